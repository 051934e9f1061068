"""The trained scorer: training is reproducible, names never become features, probabilities
drive the policy (review band in rows per million), and `scan/eval --model` use a user's model.

Models here are trained on rows the test writes (a few seconds); nothing reads ../shared."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.scorer.features import caption_tokens, url_tokens
from childguard.scorer.model import ModelError, ScorerModel, load_model
from childguard.scorer.train import TrainError, prepare, train

NAMES = ["Lucas", "Valentina", "Theodore", "Marisol", "Henrik", "Annelie", "Bartek", "Yusuf"]
# other given names (in the shipped name lists, like NAMES): the swap keeps every signal
UNSEEN = ["Oliver", "Sofia", "Mateo", "Clara"]
TOWNS = ["Campinas", "Leeds", "Utrecht", "Lyon"]


def _rows(seed: int = 0) -> list[tuple[str, str, str]]:
    rnd = random.Random(seed)
    out = []
    for i in range(40):
        n, t = rnd.choice(NAMES), rnd.choice(TOWNS)
        age = rnd.randint(2, 12)
        out += [
            (
                f"https://x.example/{i}.jpg",
                f"My son {n}, {age} years old, at his school in {t}",
                "identifiable_child",
            ),
            (
                f"https://x.example/b{i}.jpg",
                f"Happy {age}th birthday to our daughter {n}!",
                "identifiable_child",
            ),
            (f"https://x.example/c{i}.jpg", "A little girl playing in the park", "child"),
            (f"https://x.example/d{i}.jpg", "Kids running on the beach at sunset", "child"),
            (f"https://x.example/e{i}.jpg", f"My dog is a good boy, {age} years old", "none"),
            (f"https://x.example/f{i}.jpg", f"Kids shoes size {age}, free shipping", "none"),
            (f"https://x.example/g{i}.jpg", f"Red car number {i} parked in {t}", "none"),
        ]
    return out


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("lab") / "lab.parquet"
    rows = _rows()
    pl.DataFrame(
        {"URL": [r[0] for r in rows], "TEXT": [r[1] for r in rows], "label": [r[2] for r in rows]}
    ).write_parquet(p)
    return p


@pytest.fixture(scope="module")
def trained(labelled):
    data = prepare([labelled])
    pool = pl.DataFrame(
        {
            "url": [f"https://p.example/{i}.jpg" for i in range(400)],
            "text": [r[1] for r in _rows(1)][:80] + ["Mountain lake at dawn"] * 320,
        }
    )
    return train(data, folds=3, seed=0, min_rows=2, pool=pool)


def test_training_is_reproducible(labelled, trained) -> None:
    again = train(prepare([labelled]), folds=3, seed=0, min_rows=2)
    assert again.model.model_id == trained.model.model_id
    assert np.array_equal(again.model.vocab, trained.model.vocab)
    for h in ("minor", "identifiable"):
        assert np.array_equal(again.model.heads[h].weights, trained.model.heads[h].weights)
        assert np.array_equal(again.oof[h], trained.oof[h])


def test_url_word_grams_and_counts_are_made_but_not_trained_on(trained) -> None:
    """`u:` and `n:` tokens are in the training rows' features, never in a model trained now;
    scoring makes the slug's word grams only for a vocabulary that holds some (older models)."""
    import pyarrow as pa

    from childguard.engine.batch import score_batch_with_context
    from childguard.scorer.features import feature_frame
    from childguard.scorer.train import text_detectors

    made = {t for f in trained.data.features if f for t in f}
    assert any(t.startswith("u:") for t in made) and any(t.startswith("n:") for t in made)
    vocab = trained.model.vocab.tolist()
    assert not [t for t in vocab if t.startswith(("u:", "n:"))]
    batch = pa.table(
        {
            "row_index": pa.array([0], pa.int64()),
            "url": ["https://x.example/my-son-lucas-5-years.jpg"],
            "text": ["My son Lucas, 5 years old"],
        }
    )
    table, ctx = score_batch_with_context(batch, text_detectors())
    rows = np.array([0])
    old = pl.Series(sorted({*vocab, "u:son", "u:my_son"}), dtype=pl.String)
    assert {"u:son", "u:my_son"} <= set(feature_frame(table, ctx.signals, rows, old)["token"])
    new = feature_frame(table, ctx.signals, rows, pl.Series(vocab, dtype=pl.String))
    assert not new.filter(pl.col("token").str.starts_with("u:")).height
    assert new.height


def test_learns_and_is_probability(trained) -> None:
    labels = trained.data.labels
    oof = trained.oof
    assert ((oof["identifiable"] >= 0) & (oof["identifiable"] <= 1)).all()
    assert (oof["minor"] >= oof["identifiable"]).all()
    # written rows are easy: cross-validated ranking separates the classes
    assert oof["identifiable"][labels == "identifiable_child"].mean() > 0.7
    assert oof["minor"][labels == "none"].mean() < 0.3


def test_no_training_name_is_a_feature(trained) -> None:
    """Names become placeholders before features are made: no name's token id is in the
    model, and swapping the names of training rows for unseen ones changes no probability."""
    model = trained.model
    words = {w for tok in model.vocab.tolist() for w in tok.replace(":", "_").split("_")}
    assert "<name>" in words  # the placeholder is what the model learned
    for n in NAMES + TOWNS:
        assert n.lower() not in words, n
    assert "<name>" in caption_tokens("my son Lucas") and "lucas" not in caption_tokens(
        "my son Lucas"
    )
    assert "lucas" not in url_tokens(" aniversario lucas 5 anos ")

    from childguard.scorer.train import featurise

    rows = [r for r in _rows() if r[2] == "identifiable_child"][:20]
    swapped = []
    for u, t, _ in rows:
        for k, n in enumerate(NAMES):
            t = t.replace(n, UNSEEN[k % len(UNSEEN)])
        swapped.append((u, t))
    f1 = featurise(pl.DataFrame({"url": [r[0] for r in rows], "text": [r[1] for r in rows]}))
    f2 = featurise(pl.DataFrame({"url": [r[0] for r in swapped], "text": [r[1] for r in swapped]}))
    p1, p2 = model.predict(f1), model.predict(f2)
    for h in p1:
        assert np.allclose(p1[h], p2[h]), h


def test_save_load_and_bad_files(trained, tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    trained.model.save(p)
    m = load_model(p)
    assert m.model_id == trained.model.model_id and np.array_equal(m.vocab, trained.model.vocab)
    feats = [["bias", "t:son", "t:<name>"], ["bias"]]
    for h in ("minor", "identifiable"):
        assert np.allclose(m.predict(feats)[h], trained.model.predict(feats)[h])
    assert m.trained_on(["https://x.example/0.jpg"], [_rows()[0][1]]).all()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a childguard scorer model"):
        load_model(bad)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.npz")


def test_models_of_older_feature_versions(trained, tmp_path: Path) -> None:
    """A v5 model (before the names-anchor tokens) still loads and scores as it did; one of
    features older than that must be retrained."""
    p = tmp_path / "m.npz"
    trained.model.save(p)
    with np.load(p) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["meta"]))
    feats = [["bias", "t:son", "t:<name>"], ["bias"]]
    for version, loads in (("5", True), ("4", False)):
        arrays["meta"] = np.array(json.dumps({**meta, "feature_version": version}))
        old = tmp_path / f"v{version}.npz"
        np.savez_compressed(old, **arrays)
        if loads:
            got = load_model(old).predict(feats)
            assert np.allclose(got["identifiable"], trained.model.predict(feats)["identifiable"])
        else:
            with pytest.raises(ModelError, match=r"features v4.*retrain"):
                load_model(old)


def test_review_band_from_pool_distribution(trained) -> None:
    m: ScorerModel = trained.model
    dist = m.meta["pool_distribution"]["identifiable"]
    assert dist["per_million"][0] == 1e6
    above = m.rows_per_million_above(0.5)
    assert 0 < above < 1e6
    lo = m.threshold_for_band(0.5, per_million=50_000)
    assert lo <= 0.5
    assert m.rows_per_million_above(lo) - above <= 50_000 + 1e-6


def test_policy_resolves_band_after_the_removal_rule(trained, tmp_path: Path) -> None:
    from childguard.detect.scorer import Scorer
    from childguard.policy import Policy

    path = tmp_path / "m.npz"
    trained.model.save(path)
    det = Scorer(model=str(path))
    pol = Policy.model_validate(
        {
            "rules": [
                {"name": "ident", "risk": "identifiable_child", "when": "scorer >= 0.5"},
                {"name": "minor", "risk": "child", "when": "scorer.minor >= 0.5"},
            ],
            "review": {"below": 0.5, "max_per_million": 50_000},
        }
    )
    res = pol.resolve([det])
    assert [r.name for r in res.rules] == ["ident", "uncertain_review", "minor"]
    lo = res.review.resolved_threshold
    assert res.rules[1].action == "review" and lo == det.band_threshold(0.5, 50_000) < 0.5
    mid = (lo + 0.5) / 2  # inside the band
    scores = pl.DataFrame(
        {"scorer__score": [0.9, mid, 0.0, 0.0], "scorer__minor": [0.9, 0.6, 0.7, 0.1]}
    )
    dec = res.decide(scores, {})
    assert dec["risk"].to_list() == ["identifiable_child", "child", "child", "clean"]
    assert dec["action"].to_list()[:2] == ["remove", "review"]
    assert dec["rule"].to_list()[:3] == ["ident", "uncertain_review", "minor"]


def test_train_scan_and_eval_with_a_users_model(labelled, tmp_path: Path) -> None:
    model = tmp_path / "mine.npz"
    res = CliRunner().invoke(
        app,
        ["train", str(labelled), "--out", str(model), "--folds", "3", "--min-rows", "2"],
        env={"COLUMNS": "160"},
    )
    assert res.exit_code == 0, res.output
    assert "cross-validated" in res.output and "reliability" in res.output
    assert "lucas" not in res.output.lower()
    figs = json.loads(model.with_suffix(".metrics.json").read_text())
    ident = figs["without_ambiguous"]["identifiable_child"]
    assert (
        ident["recall"] > 0.5
        and ident["recall_ci95"][0] <= ident["recall"] <= ident["recall_ci95"][1]
    )
    mid = load_model(model).model_id

    data = tmp_path / "data"
    data.mkdir()
    rows = _rows(2)[:70]
    pl.DataFrame({"url": [r[0] for r in rows], "caption": [r[1] for r in rows]}).write_parquet(
        data / "part.parquet"
    )
    audit = tmp_path / "audit"
    res = CliRunner().invoke(
        app,
        [
            "scan",
            str(data),
            "--out",
            str(audit),
            "--model",
            str(model),
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    run = json.loads((audit / "run.json").read_text())
    scorer = next(d for d in run["detectors"] if d["name"] == "scorer")
    assert scorer["model_id"] == mid
    f = pl.read_parquet(next((audit / "findings").glob("*.parquet")))
    assert (f["risk"] == "identifiable_child").sum() >= 10
    blob = json.dumps(f["reasons"].to_list()).lower()
    for n in NAMES:
        assert n.lower() not in blob

    out = tmp_path / "ev"
    res = CliRunner().invoke(
        app,
        ["eval", str(labelled), "--model", str(model), "--out", str(out)],
        env={"COLUMNS": "160"},
    )
    assert res.exit_code == 0, res.output
    assert "optimistic" in res.output  # these rows trained the model
    m = json.loads((out / "metrics.json").read_text())
    assert m["figures"]["scorer"]["reliability"]["identifiable_child"]
    assert (out / "pr_curve.png").stat().st_size > 1000


def test_extra_weights_once_or_per_file(labelled) -> None:
    one = prepare([labelled], [labelled, labelled], extra_weight=0.5)
    per = prepare([labelled], [labelled, labelled], extra_weight=[1.0, 0.1])
    n = len(_rows())
    assert set(one.weight[n:].tolist()) == {0.5}
    assert set(per.weight[n : 2 * n].tolist()) == {1.0} and set(per.weight[2 * n :].tolist()) == {
        0.1
    }
    assert set(per.weight[:n].tolist()) == {1.0}  # the cross-validated rows keep theirs
    with pytest.raises(TrainError, match="one per --extra file"):
        prepare([labelled], [labelled, labelled], extra_weight=[1.0, 0.5, 0.1])
    with pytest.raises(TrainError, match="> 0"):
        prepare([labelled], [labelled], extra_weight=0)


def test_metrics_intervals() -> None:
    from childguard.scorer.metrics import binary_figures, reliability, wilson

    lo, hi = wilson(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97
    f = binary_figures(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 0, 1, 1], bool))
    assert (f.tp, f.fp, f.fn) == (2, 1, 1) and f.precision_ci[0] < f.precision < f.precision_ci[1]
    rel = reliability(np.array([1, 0, 1, 0], bool), np.array([0.9, 0.1, 0.8, 0.2]))
    assert [r["rows"] for r in rel] == [1, 1, 1, 1]


SHARED = Path(__file__).parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "real_labelled.parquet").exists(), reason="shared data absent")
def test_shipped_model_holds_no_name_of_its_training_rows() -> None:
    """Every capitalised word and every name-list word of the real positive rows the shipped
    model was trained on: none is a word of any of its feature tokens."""
    import re

    from childguard.scorer.features import vocab

    model = load_model()
    words = {w for tok in model.vocab.tolist() for w in re.split(r"[:_]", tok)}
    keep, names = vocab()
    lab = pl.read_parquet(SHARED / "real_labelled.parquet").filter(pl.col("label") != "none")
    everything = pl.read_parquet(SHARED / "real_labelled.parquet")
    seen_lower = {
        w
        for t in everything["TEXT"].to_list()
        for w in re.findall(r"[^\W\d_]+", t or "")
        if w.islower()
    }
    # words of rows without a minor (agencies, credits, places: "Getty", "AP") are no child's
    negatives = everything.filter(pl.col("label") == "none")
    seen_lower |= {
        w.lower()
        for col in ("TEXT", "URL")
        for t in negatives[col].to_list()
        for w in re.findall(r"[^\W\d_]+", t or "")
    }
    # so are the lower-case words of the pool rows we labelled `none` (labels/real_pool_added:
    # "clay" of a pottery post is a word, though a child's caption opens with it capitalised)
    from childguard.scorer.model import row_key

    added = Path(__file__).resolve().parents[2] / "labels" / "real_pool_added.csv"
    none_keys = set(
        pl.read_csv(added, infer_schema_length=0).filter(pl.col("label") == "none")["key"]
    )
    pool = pl.read_parquet(SHARED / "real_pool.parquet", columns=["URL", "TEXT"])
    for u, t in zip(pool["URL"].to_list(), pool["TEXT"].to_list(), strict=True):
        if t and row_key(u, t) in none_keys:
            seen_lower |= {w for w in re.findall(r"[^\W\d_]+", t) if w.islower()}
    # words our written rows (labels/written, all people invented) use in lower case are
    # ordinary words ("dressed"), whatever case a real row wrote them in
    for f in (Path(__file__).resolve().parents[2] / "labels" / "written").glob("*.jsonl"):
        for t in pl.read_ndjson(f)["TEXT"].to_list():
            seen_lower |= {w for w in re.findall(r"[^\W\d_]+", t or "") if w.islower()}
    probes = set()
    for text in lab["TEXT"].to_list():
        for w in re.findall(r"[^\W\d_]+", text or ""):
            low = w.lower()
            # a listed name, or a word only ever written capitalised that is no lexicon or
            # common word (Karter, Kaiarahi): what a name looks like
            if low in names or (w[0].isupper() and low not in keep and low not in seen_lower):
                probes.add(low)
    assert len(probes) > 30  # the probe is real: many training names
    leaked = sorted(p for p in probes if p in words)
    assert not leaked, leaked


def test_scan_with_a_bad_model_file_says_so(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    pl.DataFrame({"url": ["https://x.example/a.jpg"], "caption": ["a boy"]}).write_parquet(
        data / "p.parquet"
    )
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    res = CliRunner().invoke(
        app, ["scan", str(data), "--out", str(tmp_path / "a"), "--model", str(bad), "--no-progress"]
    )
    assert res.exit_code == 2
    out = " ".join(res.output.split())  # the console wraps long paths at its width
    assert "not a childguard scorer model" in out and "Traceback" not in out


def test_pool_distribution_takes_the_given_scores_of_seen_rows(trained, labelled) -> None:
    from childguard.scorer.model import row_key
    from childguard.scorer.train import pool_distribution

    data = prepare([labelled])
    pool = data.frame.select("url", "text")
    urls, texts = pool["url"].to_list(), pool["text"].to_list()
    keys = [row_key(u, t) for u, t in zip(urls, texts, strict=True)]
    model = trained.model
    plain = pool_distribution(model, pool)
    forced = pool_distribution(model, pool, {k: (0.99, 0.99) for k in keys})
    at = plain["identifiable"]["thresholds"].index(0.9)
    screened = plain["screened"] / plain["rows"] * 1e6
    assert forced["identifiable"]["per_million"][at] == pytest.approx(screened, rel=1e-3)
    assert plain["identifiable"]["per_million"][at] < screened  # the model's own scores differ
