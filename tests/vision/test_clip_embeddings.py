"""CLIP-embedding stage: prompt embeddings from a tiny CLIP-shaped model, the matrix-product
scorer against a per-row reference, LAION-layout folders scanned end to end (decisions, the
length check, the picture-level count in run.json and the report), and release."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.config import ScanConfig
from childguard.detect import REGISTRY, load_builtin
from childguard.detect.base import DetectorError
from childguard.engine.local import run_scan
from childguard.vision import clip as clipmod
from childguard.vision.clip import ClipError, load_scorer, save_probe
from childguard.vision.embeddings import (
    EmbeddingError,
    ShardEmbeddings,
    find_embeddings,
    shard_number,
)
from childguard.vision.prompts import (
    MINOR_CLASSES,
    OTHER_CLASSES,
    TEMPLATES,
    compute_class_embeddings,
    write_prompt_file,
)

sys.path.insert(0, str(Path(__file__).parent))
from tiny_clip import DIM, TinyClip, TinyTokenizer, picture_near, write_laion_layout

VERSION = "1+tiny/test/prompts-cg-minor-1"


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    return write_prompt_file(
        tmp_path / "prompts.npz", TinyClip(), TinyTokenizer(), model_name="tiny", pretrained="test"
    )


def _cls(scorer, name: str) -> np.ndarray:
    return scorer.matrix[list(scorer.classes).index(name)]


def _reference(scorer, x: np.ndarray) -> np.ndarray:
    """The per-row definition: softmax over classes of scale * cosine, summed over minors."""
    out = []
    for v in x.astype(np.float64):
        v = v / np.linalg.norm(v)
        z = scorer.logit_scale * (scorer.matrix.astype(np.float64) @ v)
        e = np.exp(z - z.max())
        out.append(e[scorer.minor].sum() / e.sum())
    return np.array(out)


# --- prompt embeddings ------------------------------------------------------------------------


def test_class_embeddings_from_a_clip_shaped_model(prompt_file: Path) -> None:
    model, tok = TinyClip(), TinyTokenizer()
    emb, classes, minor, prompts = compute_class_embeddings(model, tok, batch_size=7)
    assert emb.shape == (len(MINOR_CLASSES) + len(OTHER_CLASSES), DIM)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert minor.sum() == len(MINOR_CLASSES) and classes[0] == MINOR_CLASSES[0]
    assert len(prompts) == len(classes) * len(TEMPLATES)
    # a class is the normalised mean of its templates' normalised embeddings
    raw = model.encode_text(tok([t.format(classes[3]) for t in TEMPLATES]))
    mean = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).mean(axis=0)
    assert np.allclose(emb[3], mean / np.linalg.norm(mean), atol=1e-5)

    scorer = load_scorer(prompt_file)
    assert scorer.kind == "prompts" and scorer.tag == "tiny/test/prompts-cg-minor-1"
    assert scorer.logit_scale == pytest.approx(100.0, rel=1e-5)  # exp of the model's log scale
    assert np.allclose(scorer.matrix, emb, atol=1e-6) and len(scorer.sha256) == 64


def test_matrix_product_matches_the_per_row_definition(prompt_file: Path, monkeypatch) -> None:
    scorer = load_scorer(prompt_file)
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            picture_near(_cls(scorer, "a toddler"), 20, rng),
            picture_near(_cls(scorer, "a teenage girl"), 20, rng),
            picture_near(_cls(scorer, "a woman"), 20, rng),
            picture_near(_cls(scorer, "a landscape"), 20, rng),
            rng.standard_normal((20, DIM)),
        ]
    ).astype(np.float16)
    monkeypatch.setattr(clipmod, "CHUNK_ROWS", 13)  # chunk edges inside the batch
    p = scorer.minor_probability(x)
    assert np.allclose(p, _reference(scorer, x.astype(np.float32)), atol=1e-6)
    assert (p[:40] > 0.99).all() and (p[40:80] < 0.01).all()
    zero = scorer.minor_probability(np.zeros((2, DIM), np.float16))
    assert np.isnan(zero).all()  # no vector: no picture, not "clean"


def test_linear_probe(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal(DIM)
    save_probe(tmp_path / "probe.npz", weights=w, bias=-0.5, model="tiny", pretrained="test",
               version="p1")  # fmt: skip
    probe = load_scorer(tmp_path / "probe.npz")
    assert probe.kind == "probe" and probe.tag == "tiny/test/probe-p1"
    x = rng.standard_normal((50, DIM)).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    want = 1 / (1 + np.exp(-(xn @ w.astype(np.float32) - 0.5)))
    assert np.allclose(probe.minor_probability(x), want, atol=1e-5)


def test_bad_scorer_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ClipError, match=r"bad\.npz: not an \.npz"):
        load_scorer(bad)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ClipError, match=r"other\.npz: not a childguard CLIP file"):
        load_scorer(other)
    with pytest.raises(ClipError, match="cannot read"):
        load_scorer(tmp_path / "missing.npz")


def test_clip_prompts_without_open_clip_says_how_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import fails as where it is absent
    res = CliRunner().invoke(app, ["clip-prompts", "--out", str(tmp_path / "p.npz")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "open_clip" in text and "download.pytorch.org/whl/cpu" in text
    assert not (tmp_path / "p.npz").exists()


def test_clip_prompts_command_with_an_open_clip_shaped_module(tmp_path, monkeypatch) -> None:
    calls = []

    def create_model_and_transforms(name, pretrained=None, device="cpu"):
        calls.append((name, pretrained, device))
        return TinyClip(), None, None

    fake = types.SimpleNamespace(
        create_model_and_transforms=create_model_and_transforms,
        get_tokenizer=lambda name: TinyTokenizer(),
    )
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(app, ["clip-prompts"])  # default model, cached under the home
    assert res.exit_code == 0, res.output
    assert calls == [("ViT-L-14", "openai", "cpu")]
    cached = tmp_path / "home" / "clip" / "ViT-L-14__openai__cg-minor-1.npz"
    scorer = load_scorer(cached)
    assert scorer.tag == "ViT-L-14/openai/prompts-cg-minor-1" and str(cached) in res.output
    # a scan with embeddings and no --clip-prompts uses the cached file
    load_builtin()
    det = REGISTRY.create(["clip"])[0]
    assert det.version == "1+ViT-L-14/openai/prompts-cg-minor-1"
    assert det.describe()["scorer"]["sha256"] == scorer.sha256


# --- locating and reading embeddings -----------------------------------------------------------


def test_find_embeddings_in_laion_layouts(tmp_path: Path) -> None:
    assert shard_number("/d/metadata_0003.parquet") == 3
    assert shard_number("/d/00012.parquet") == 12 and shard_number("/d/part.parquet") is None
    # laion: metadata/ and img_emb/ side by side
    (tmp_path / "a" / "metadata").mkdir(parents=True)
    (tmp_path / "a" / "img_emb").mkdir()
    np.save(tmp_path / "a" / "img_emb" / "img_emb_3.npy", np.zeros((2, 4), np.float16))
    shard = str(tmp_path / "a" / "metadata" / "metadata_0003.parquet")
    assert find_embeddings(shard) == tmp_path / "a" / "img_emb" / "img_emb_3.npy"
    assert find_embeddings(str(tmp_path / "a" / "metadata" / "metadata_0004.parquet")) is None
    # an explicit folder, with or without img_emb/ inside it
    elsewhere = str(tmp_path / "b" / "metadata_0003.parquet")
    assert find_embeddings(elsewhere) is None
    assert find_embeddings(elsewhere, str(tmp_path / "a")) is not None
    assert find_embeddings(elsewhere, str(tmp_path / "a" / "img_emb")) is not None
    assert find_embeddings("s3://bucket/metadata_0003.parquet") is None  # no mmap over s3


def test_shard_embeddings_checks_and_reads(tmp_path: Path) -> None:
    arr = np.arange(40, dtype=np.float16).reshape(10, 4)
    np.save(tmp_path / "img_emb_0.npy", arr)
    e = ShardEmbeddings(tmp_path / "img_emb_0.npy", "meta_0.parquet", 10, 4)
    assert e.block(np.arange(3, 7)).tolist() == arr[3:7].tolist()
    e.release(np.arange(0, 10))  # pages unmapped; the rows read the same again
    assert e.block(np.arange(0, 10)).tolist() == arr.tolist()
    assert e.block(np.array([9, 1])).tolist() == arr[[9, 1]].tolist()
    with pytest.raises(EmbeddingError, match=r"has 10 rows but its metadata shard meta_0.parquet has at least 12"):
        e.block(np.array([10, 11]))
    with pytest.raises(EmbeddingError, match="4-d, but the CLIP prompt/probe file is 768-d"):
        ShardEmbeddings(tmp_path / "img_emb_0.npy", "meta_0.parquet", 10, 768)
    np.save(tmp_path / "img_emb_1.npy", np.zeros(5, np.int32))
    with pytest.raises(EmbeddingError, match="expected a 2-D float16/float32 array"):
        ShardEmbeddings(tmp_path / "img_emb_1.npy", "meta_1.parquet", 5, 4)


# --- scans -------------------------------------------------------------------------------------

CAPTIONS = [
    "Sunset over the lake",  # 0 child picture, neutral words -> child (picture alone)
    "red chair",  # 1 adult picture -> clean
    "@valentina.bebe.oficial",  # 2 child picture + a child's handle -> identifiable_child
    "Lucas at Escola Pequeno Mundo",  # 3 child picture + a named school -> identifiable_child
    "Blue car",  # 4 landscape picture -> clean
    "Beach day",  # 5 teenager picture -> child
    "born 12 March 2015 weighing 3.2 kg",  # 6 no vector (all zeros) -> not checked
    "Mountain view",  # 7 woman picture -> clean
]
EXPECTED = {
    0: ("child", "keep", "minor_in_picture"),
    2: ("identifiable_child", "remove", "identifiable_child_in_picture"),
    3: ("identifiable_child", "remove", "identifiable_child_in_picture"),
    5: ("child", "keep", "minor_in_picture"),
}


def _layout(root: Path, scorer, short_by: int = 0) -> list[Path]:
    rng = np.random.default_rng(11)
    near = {
        0: "a toddler", 1: "a man", 2: "a baby", 3: "a young boy", 4: "a landscape",
        5: "a teenage boy", 7: "a woman",
    }  # fmt: skip
    emb = np.zeros((len(CAPTIONS), DIM))
    for i, cls in near.items():
        emb[i] = picture_near(_cls(scorer, cls), 1, rng)[0]
    rows = [(f"https://img.example.org/p/{i}.jpg", c) for i, c in enumerate(CAPTIONS)]
    return write_laion_layout(
        root,
        [(rows, emb[: len(rows) - short_by] if short_by else emb), (rows[:5], None)],
    )


def _scan(inputs: list[str], out: Path, prompts: Path, **clip) -> object:
    cfg = ScanConfig(
        inputs=inputs,
        out=str(out),
        workers=1,
        batch_rows=3,  # batches inside row groups: row offsets into the .npy matter
        detector_options={"clip": {"prompts": str(prompts), **clip}},
    )
    return run_scan(cfg, restart=True, progress=False)


def test_laion_layout_scan_end_to_end(tmp_path: Path, prompt_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    scorer = load_scorer(prompt_file)
    shards = _layout(tmp_path / "laion", scorer)
    audit = tmp_path / "audit"
    result = _scan([str(tmp_path / "laion")], audit, prompt_file)
    assert result.ok, result.failed
    assert result.rows == len(CAPTIONS) + 5
    assert result.picture_checked == len(CAPTIONS) - 1  # the all-zero vector is not a picture

    stats = {s["path"]: s for s in result.shards}
    with_emb = stats[str(shards[0])]
    assert with_emb["picture_checked"] == len(CAPTIONS) - 1
    assert stats[str(shards[1])]["picture_checked"] == 0
    found = pl.read_parquet(audit / "findings" / f"{with_emb['shard_id']}.parquet")
    got = {r["row_index"]: (r["risk"], r["action"], r["rule"]) for r in found.iter_rows(named=True)}
    assert {i: got[i] for i in EXPECTED} == EXPECTED
    assert not {1, 4, 7} & set(got)  # adults, landscapes: clean
    for r in found.iter_rows(named=True):
        if r["row_index"] in EXPECTED:
            clip = [x for x in r["reasons"] if x["detector"] == "clip"]
            assert len(clip) == 1 and clip[0]["version"] == VERSION
            assert clip[0]["score"] > 0.99 and clip[0]["threshold"] == 0.5
            assert clip[0]["evidence"] == "picture:minor embedding:clip"

    run = json.loads((audit / "run.json").read_text())
    assert run["summary"]["picture_unchecked"] == 1 + 5
    det = next(d for d in run["detectors"] if d["name"] == "clip")
    assert det["version"] == VERSION and det["scorer"]["sha256"] == scorer.sha256

    res = CliRunner().invoke(app, ["report", str(audit)])
    assert res.exit_code == 0, res.output
    rep = json.loads((audit / "report.json").read_text())
    assert rep["pictures"]["checked"] == len(CAPTIONS) - 1
    assert rep["pictures"]["unchecked"] == 6 and rep["pictures"]["shards_unchecked"] == 2
    assert rep["pictures"]["shards"][0]["shard_id"] == stats[str(shards[1])]["shard_id"]
    html = " ".join((audit / "report.html").read_text().split())
    assert "<b>6</b> (46.15%) had no picture-level check" in html

    # findings feed release: the identifiable rows leave the released metadata
    rel = tmp_path / "release"
    res = CliRunner().invoke(app, ["release", str(audit), "--out", str(rel), "--id", "r1"])
    assert res.exit_code == 0, res.output
    man = pl.read_parquet(rel / "manifest.parquet")
    picked = man.filter(pl.col("reason") == "identifiable_child")
    by_clip = picked.filter(pl.col("source") == "clip")
    assert by_clip.height == 2  # the deciding rule's picture reason
    assert set(by_clip["url_sha256"]) == set(found.filter(pl.col("row_index").is_in([2, 3]))["url_sha256"])
    # the second shard has no pictures: whatever it removes, the text scorer decided
    assert set(picked.filter(pl.col("source") != "clip")["source"]) <= {"scorer"}
    held = set(found.filter(pl.col("action") == "review")["row_index"])  # held for review
    # removed: the two picture-decided rows, and any the text scorer removes (row 6, a birth
    # date and weight, has no picture)
    removed = set(found.filter(pl.col("action") == "remove")["row_index"])
    assert {2, 3} <= removed and removed <= {2, 3, 6}
    kept = pq.read_table(rel / "data" / "metadata_0000.parquet").column("TEXT").to_pylist()
    assert kept == [c for i, c in enumerate(CAPTIONS) if i not in removed | held]


def test_embedding_length_mismatch_fails_the_shard_naming_both_files(
    tmp_path: Path, prompt_file: Path
) -> None:
    shards = _layout(tmp_path / "laion", load_scorer(prompt_file), short_by=2)
    result = _scan([str(tmp_path / "laion")], tmp_path / "audit", prompt_file)
    assert not result.ok
    (failed,) = result.failed
    assert failed["path"] == str(shards[0])
    msg = " ".join(failed["errors"])
    assert "img_emb_0000.npy" in msg and "metadata_0000.parquet" in msg
    assert f"has {len(CAPTIONS) - 2} rows" in msg and f"has {len(CAPTIONS)}:" in msg
    # the shard without embeddings still finished
    assert [s["path"] for s in result.shards] == [str(shards[1])]


def test_embeddings_option_needs_a_prompt_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))  # no cached prompt file
    (tmp_path / "emb").mkdir()
    load_builtin()
    with pytest.raises(DetectorError, match="clip-prompts"):
        REGISTRY.create(["clip"], {"clip": {"embeddings": str(tmp_path / "emb")}})
    with pytest.raises(DetectorError, match="no folder"):
        REGISTRY.create(["clip"], {"clip": {"embeddings": str(tmp_path / "nope")}})
    src = tmp_path / "m.parquet"
    pq.write_table(pq.read_table(_layout(tmp_path / "l", load_scorer(
        write_prompt_file(tmp_path / "p.npz", TinyClip(), TinyTokenizer(), model_name="t",
                          pretrained="t")))[1]), src)  # fmt: skip
    res = CliRunner().invoke(
        app, ["scan", str(src), "--out", str(tmp_path / "a"), "--embeddings", str(tmp_path / "emb")]
    )
    assert res.exit_code == 2 and "clip-prompts" in res.output


def test_scan_cli_embeddings_folder_elsewhere(tmp_path: Path, prompt_file: Path) -> None:
    scorer = load_scorer(prompt_file)
    _layout(tmp_path / "laion", scorer)
    # metadata alone in another folder: found only through --embeddings
    meta = tmp_path / "meta"
    meta.mkdir()
    for p in (tmp_path / "laion" / "metadata").iterdir():
        p.rename(meta / p.name)
    args = ["scan", str(meta), "--workers", "1", "--no-progress", "--clip-prompts", str(prompt_file)]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a1")])
    assert res.exit_code == 0, res.output
    assert CliRunner().invoke(app, ["report", str(tmp_path / "a1")]).exit_code == 0
    html = " ".join((tmp_path / "a1" / "report.html").read_text().split())
    assert "No row had a picture-level check" in html
    assert f"{len(CAPTIONS) + 5:,} of {len(CAPTIONS) + 5:,} row(s) had no picture-level check" in (
        " ".join(res.output.split())
    )
    res = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "a2"), "--embeddings", str(tmp_path / "laion")]
    )
    assert res.exit_code == 0, res.output
    assert "6 of 13 row(s) had no picture-level check" in " ".join(res.output.split())


def test_scan_notes_embeddings_it_cannot_score(tmp_path: Path, prompt_file, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))  # no cached prompt file
    _layout(tmp_path / "laion", load_scorer(prompt_file))
    res = CliRunner().invoke(
        app, ["scan", str(tmp_path / "laion" / "metadata"), "--out", str(tmp_path / "a"),
              "--workers", "1", "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "holds CLIP embeddings, but there is no prompt file" in text
    assert "13 of 13 row(s) had no picture-level check" in text


def test_clip_declares_its_resources_for_ray() -> None:
    pytest.importorskip("ray")
    from childguard.engine.ray import worker_resources

    load_builtin()
    cls = REGISTRY.get("clip")
    assert cls.resources.num_gpus == 0.0 and cls.resources.num_cpus == 1.0
    # the default policy's detectors (clip among them) run on CPU actors: no GPU asked for
    from childguard.policy import load_policy

    spec = worker_resources(REGISTRY.create(load_policy().detectors or []))
    assert spec.num_gpus == 0 and spec.stateful and spec.num_cpus == 1.0
