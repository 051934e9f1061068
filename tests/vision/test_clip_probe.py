"""`childguard clip-probe train`: a calibrated linear probe from labelled LAION-layout embeddings.

Synthetic data only: two Gaussian clusters on the 768-d sphere ("minor" and "other" pictures),
written as float16 `img_emb_NNNN.npy` files, with 10% of the labels flipped so calibration has
something to do. The trained probe is read by the scan's own loader and used by a scan.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.vision import probe_data
from childguard.vision.clip import load_scorer, probe_meta
from childguard.vision.probe_data import ProbeError, load_labelled
from childguard.vision.probe_train import precision_threshold, train_probe

sys.path.insert(0, str(Path(__file__).parent))
from tiny_clip import DIM, picture_near, write_laion_layout

SIZES = (240, 160)  # rows of img_emb_0000.npy, img_emb_0001.npy
FLIP = 0.1


def _centres() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.standard_normal(DIM), rng.standard_normal(DIM)


def _vectors(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    minor, other = _centres()
    n = truth.size
    return np.where(
        truth[:, None], picture_near(minor, n, rng, noise=0.6), picture_near(other, n, rng, noise=0.6)
    )


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Path, Path, dict]:
    """`emb/img_emb_000{0,1}.npy` and `labels.csv` (file, row_index, minor): every 5th row
    unlabelled (no label line), every 9th an empty label, row 7 of file 1 an all-zero vector."""
    rng = np.random.default_rng(1)
    (tmp_path / "emb").mkdir()
    lines = []
    expect = {"minor": 0, "other": 0, "unlabelled": 0}
    for k, n in enumerate(SIZES):
        truth = rng.random(n) < 0.4
        x = _vectors(truth, rng)
        if k == 1:
            x[7] = 0.0
        np.save(tmp_path / "emb" / f"img_emb_{k:04d}.npy", x.astype(np.float16))
        label = truth ^ (rng.random(n) < FLIP)
        for i in range(n):
            if i % 5 == 0:
                continue
            if i % 9 == 0:
                lines.append((f"img_emb_{k:04d}.npy", i, ""))
                expect["unlabelled"] += 1
                continue
            lines.append((f"img_emb_{k:04d}.npy", i, "true" if label[i] else "false"))
            if not (k == 1 and i == 7):
                expect["minor" if label[i] else "other"] += 1
    rng.shuffle(lines)  # label order must not matter
    labels = tmp_path / "labels.csv"
    pl.DataFrame(lines, schema=["file", "row_index", "minor"], orient="row").write_csv(labels)
    return tmp_path / "emb", labels, expect


def _train(emb: Path, labels: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        app, ["clip-probe", "train", str(emb), "--labels", str(labels), "--out", str(out), *extra]
    )


def test_trained_probe_loads_separates_and_is_calibrated(tmp_path: Path, labelled) -> None:
    emb, labels, expect = labelled
    out = tmp_path / "probe.npz"
    res = _train(emb, labels, out)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    n = expect["minor"] + expect["other"]
    assert f"{n:,} labelled rows ({expect['minor']} minor, {expect['other']} other)" in text
    assert f"skipped: {expect['unlabelled']} without a label, 1 all-zero vectors" in text
    assert "average precision" in text and "reliability (out of fold" in text
    assert "P(minor) >= 0.500 (policy): P" in text and "(recommended)" in text

    probe = load_scorer(out)  # the scan's own loader, unchanged
    assert probe.kind == "probe" and probe.dim == DIM
    assert probe.model == "ViT-L-14" and probe.pretrained == "openai"
    assert probe.tag.startswith("ViT-L-14/openai/probe-lr-")
    rng = np.random.default_rng(99)  # fresh pictures of both clusters
    p_minor = probe.minor_probability(_vectors(np.ones(200, bool), rng).astype(np.float16))
    p_other = probe.minor_probability(_vectors(np.zeros(200, bool), rng).astype(np.float16))
    assert p_minor.min() > p_other.max()  # the clusters are separated
    # calibrated: with 10% of labels flipped, a cluster's P(minor) is ~0.9 / ~0.1, not ~1 / ~0
    assert abs(p_minor.mean() - (1 - FLIP)) < 0.07 and abs(p_other.mean() - FLIP) < 0.07

    meta = probe_meta(out)
    assert meta["model_name"] == "ViT-L-14/openai" and meta["format"] == "cg-probe-1"
    digest = hashlib.sha256(labels.read_bytes()).hexdigest()
    assert meta["labels"] == {"file": "labels.csv", "sha256": digest}
    rows = meta["rows"]
    assert (rows["minor"], rows["other"]) == (expect["minor"], expect["other"])
    assert rows["zero_vectors_skipped"] == 1 and rows["unlabelled_skipped"] == expect["unlabelled"]
    assert [f["rows"] for f in rows["files"]] == list(SIZES)
    cv = meta["cv"]
    assert cv["rows"] == n and 0.8 < cv["average_precision"] <= 1.0
    at = cv["at_recommended_threshold"]
    assert at["precision"] >= 0.9 and at["threshold"] == meta["threshold"]
    lo, hi = at["precision_ci95"]
    assert lo <= at["precision"] <= hi
    assert sum(b["rows"] for b in cv["reliability"]) == n
    assert f"clip >= {meta['threshold']:.3f}" in text


def test_training_is_reproducible_and_batching_changes_nothing(
    tmp_path: Path, labelled, monkeypatch
) -> None:
    emb, labels, _ = labelled
    assert _train(emb, labels, tmp_path / "a.npz", "--seed", "3").exit_code == 0
    assert _train(emb, labels, tmp_path / "b.npz", "--seed", "3").exit_code == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    monkeypatch.setattr(probe_data, "BATCH_ROWS", 7)  # spans end inside the labelled rows
    assert _train(emb, labels, tmp_path / "c.npz", "--seed", "3").exit_code == 0
    assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "a.npz").read_bytes()
    res = _train(emb, labels, tmp_path / "d.npz", "--seed", "4", "--probe-version", "mine-1")
    assert res.exit_code == 0 and load_scorer(tmp_path / "d.npz").version == "mine-1"


def test_gather_reads_only_labelled_rows_in_order(tmp_path: Path, monkeypatch) -> None:
    x = np.arange(30 * 4, dtype=np.float32).reshape(30, 4) + 1
    np.save(tmp_path / "vecs.npy", x)  # a plain array: no `file` column needed
    labels = tmp_path / "l.parquet"
    frame = {"row_index": [29, 3, 11, 12], "minor": pl.Series([1, 0, None, 1], dtype=pl.Int8)}
    pl.DataFrame(frame).write_parquet(labels)  # 0/1 integers, a null: unlabelled
    monkeypatch.setattr(probe_data, "BATCH_ROWS", 5)
    got = load_labelled([tmp_path / "vecs.npy"], labels)
    want = x[[3, 12, 29]]
    assert np.allclose(got.x, want / np.linalg.norm(want, axis=1, keepdims=True))
    assert got.y.tolist() == [False, True, True] and got.counts["unlabelled_skipped"] == 1


@pytest.mark.parametrize(
    "rows, says",
    [
        ([("img_emb_0001.npy", 160, "1")], r"labels\.csv, row 1: row_index 160 does not exist in .*img_emb_0001\.npy \(160 rows\)"),
        ([("img_emb_0000.npy", 1, "1"), ("img_emb_0009.npy", 2, "0")], r"labels\.csv, row 2, column 'file': no such embedding file among img_emb_0000\.npy, img_emb_0001\.npy \(got 'img_emb_0009\.npy'\)"),
        ([("img_emb_0000.npy", 1, "maybe")], r"row 1, column 'minor': not a label .*\(got 'maybe'\)"),
        ([("img_emb_0000.npy", -1, "1")], r"row 1, column 'row_index': not a row number"),
        ([("img_emb_0000.npy", 4, "1"), ("metadata_0000.parquet", 4, "0")], r"labels\.csv, rows 1, 2: row_index 4 of .*img_emb_0000\.npy is labelled more than once"),
    ],
)  # fmt: skip
def test_bad_labels_are_errors_naming_file_and_row(tmp_path: Path, labelled, rows, says) -> None:
    emb, _, _ = labelled
    bad = tmp_path / "labels.csv"
    pl.DataFrame(rows, schema=["file", "row_index", "minor"], orient="row").write_csv(bad)
    res = _train(emb, bad, tmp_path / "p.npz")
    assert res.exit_code == 2
    assert re.search(says, res.output), res.output
    assert not (tmp_path / "p.npz").exists()


def test_other_input_errors(tmp_path: Path, labelled) -> None:
    emb, labels, _ = labelled
    res = _train(emb, labels, tmp_path / "p.npz", "--folds", "500")
    assert res.exit_code == 2 and "too few labelled rows for 500-fold" in " ".join(res.output.split())
    np.save(tmp_path / "img_emb_0005.npy", np.zeros((3, 512), np.float16))
    res = CliRunner().invoke(app, ["clip-probe", "train", str(emb), str(tmp_path / "img_emb_0005.npy"),
                                   "--labels", str(labels), "--out", str(tmp_path / "p.npz")])  # fmt: skip
    assert res.exit_code == 2 and "512-d vectors, but" in " ".join(res.output.split())
    no_file = tmp_path / "nofile.csv"
    pl.DataFrame({"row_index": [1], "minor": [True]}).write_csv(no_file)
    res = _train(emb, no_file, tmp_path / "p.npz")
    assert res.exit_code == 2 and "no 'file' column, and 2 embedding files" in " ".join(res.output.split())
    res = _train(emb, labels, tmp_path / "p.npz", "--model-name", "ViT-L-14")
    assert res.exit_code == 2 and "model/weights" in res.output


def test_precision_threshold() -> None:
    y = np.array([1, 1, 0, 1, 0, 0], bool)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    assert precision_threshold(y, p, 1.0) == 0.8
    assert precision_threshold(y, p, 0.75) == 0.6  # 3 of 4 at >= 0.6: the most recall
    assert precision_threshold(~y, p, 1.0) is None  # the top row is not a minor
    tie = np.array([0.9, 0.8, 0.8, 0.6, 0.2, 0.1])  # a tie is taken whole
    assert precision_threshold(y, tie, 1.0) == 0.9


def test_train_probe_needs_folds_and_rows_of_both_kinds() -> None:
    x = np.eye(8)[np.arange(40) % 8]
    y = np.arange(40) < 20
    with pytest.raises(ProbeError, match="at least 2 folds"):
        train_probe(x, y, folds=1)
    with pytest.raises(ProbeError, match="0 minor and 40 other"):
        train_probe(x, np.zeros(40, bool), folds=2)


# --- a scan with the trained probe --------------------------------------------------------------

CAPTIONS = ["Sunset over the lake", "red chair", "@valentina.bebe.oficial", "Blue car"]


def test_scan_with_embeddings_uses_the_trained_probe(tmp_path: Path, labelled) -> None:
    emb, labels, _ = labelled
    probe = tmp_path / "probe.npz"
    assert _train(emb, labels, probe).exit_code == 0
    truth = np.array([True, False, True, False])
    vectors = _vectors(truth, np.random.default_rng(42))
    rows = [(f"https://img.example.org/p/{i}.jpg", c) for i, c in enumerate(CAPTIONS)]
    write_laion_layout(tmp_path / "laion", [(rows, vectors)])
    meta = tmp_path / "meta"  # metadata alone: embeddings found through --embeddings
    (tmp_path / "laion" / "metadata").rename(meta)
    audit = tmp_path / "audit"
    res = CliRunner().invoke(
        app,
        ["scan", str(meta), "--out", str(audit), "--workers", "1", "--no-progress",
         "--embeddings", str(tmp_path / "laion"), "--clip-prompts", str(probe)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (found,) = list((audit / "findings").glob("*.parquet"))
    got = {r["row_index"]: (r["risk"], r["rule"]) for r in pl.read_parquet(found).iter_rows(named=True)}
    assert got == {
        0: ("child", "minor_in_picture"),
        2: ("identifiable_child", "identifiable_child_in_picture"),
    }
    run = json.loads((audit / "run.json").read_text())
    det = next(d for d in run["detectors"] if d["name"] == "clip")
    scorer = load_scorer(probe)
    assert det["version"] == f"1+{scorer.tag}" and det["scorer"]["kind"] == "probe"
    assert det["scorer"]["sha256"] == scorer.sha256
