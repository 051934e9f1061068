"""Train the scorer on labelled rows: cross-validated figures, calibration, pool sizing.

1. Every labelled row goes through the scan's own code (normalisation, caption detectors,
   shared signals); the screen's candidates get feature tokens (`features.py`).
2. K-fold cross-validation (stratified by label, grouped by caption so copies of one caption
   never sit on both sides) gives an out-of-fold probability for every row; rows the screen
   passes are out-of-fold "no" (a miss of the screen is a miss of the whole decision).
   Rows whose note starts with `AMBIG` are never trained on and are scored with and without.
3. Platt scaling per head is fitted on the out-of-fold logits; the final model is fitted on
   every (non-AMBIG) candidate row; tokens seen in fewer than `min_rows` distinct captions are
   dropped, so a name that slipped past the placeholders cannot become a feature either.
4. With a pool of unlabelled rows, the model's score distribution there is stored, so a policy
   can size its review band in rows per million.
Deterministic for a given input and seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.scorer.calibration import platt, sigmoid
from childguard.scorer.features import FEATURE_VERSION, batch_features
from childguard.scorer.model import GIVEN_MINOR, HEADS, Head, ScorerModel, combine_raw


class TrainError(ValueError):
    """Labelled data that cannot train a model (unreadable, no labels, too few rows)."""
    pass


@dataclass
class Featurised:
    """Labelled rows with their feature tokens, labels, groups, weights and CV flags."""
    features: list[list[str] | None]  # None: the screen passed the row
    labels: np.ndarray  # str
    ambiguous: np.ndarray  # bool
    groups: np.ndarray  # int (caption hash)
    weight: np.ndarray  # float
    cv: np.ndarray  # bool: scored in cross-validation (False: training-only rows)
    frame: pl.DataFrame  # url, text, label, lang, source of every row


def text_detectors() -> list:
    """Instances of the detectors whose outputs become scorer features."""
    from childguard.detect import REGISTRY, load_builtin
    from childguard.scorer.features import DETECTOR_FEATURES

    load_builtin()
    return REGISTRY.create(list(DETECTOR_FEATURES), {})


def featurise(frame: pl.DataFrame, dets: list | None = None, batch_rows: int = 65536):
    """(features per row or None where the screen passed it) for a url/text frame."""
    from childguard.engine.batch import score_batch_with_context

    dets = dets if dets is not None else text_detectors()
    out: list[list[str] | None] = []
    for off in range(0, frame.height, batch_rows):
        part = frame.slice(off, batch_rows)
        batch = pa.table(
            {
                "row_index": pa.array(np.arange(off, off + part.height), pa.int64()),
                "url": part["url"].cast(pl.String).to_arrow(),
                "text": part["text"].cast(pl.String).to_arrow(),
            }
        )
        table, ctx = score_batch_with_context(batch, dets)
        sig = ctx.signals
        idx = sig["candidate"].arg_true().to_numpy()
        feats = batch_features(table, sig, idx)
        rows: list[list[str] | None] = [None] * part.height
        for k, i in enumerate(idx.tolist()):
            rows[i] = feats[k]
        out.extend(rows)
    return out


def read_labelled(path: Path, cv: bool = True) -> pl.DataFrame:
    """A labelled file as url, text, label, note, lang, source, weight, cv columns (labels
    checked and normalised exactly as `childguard eval` does)."""
    from childguard.evaluate import (
        TEXT_COLUMNS,
        URL_COLUMNS,
        EvalError,
        _normalise_labels,
        _pick,
        read_labelled_file,
    )

    try:
        df = read_labelled_file(path)
    except EvalError as e:
        raise TrainError(f"{path}: cannot read labelled rows: {e}") from None
    cols = df.columns
    if "label" not in cols:
        raise TrainError(f"{path}: no `label` column; columns: {cols}")
    try:
        u = _pick(cols, None, URL_COLUMNS, "URL")
        t = _pick(cols, None, TEXT_COLUMNS, "caption")
        lab = _normalise_labels(df["label"], path, "label")
    except EvalError as e:
        raise TrainError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None

    def col(name: str, default: Any) -> pl.Series:
        if name in cols:
            return df[name].cast(pl.String).fill_null("")
        return pl.Series([default] * df.height, dtype=pl.String)

    return pl.DataFrame(
        {
            "url": df[u].cast(pl.String),
            "text": df[t].cast(pl.String),
            "label": lab,
            "note": col("note", ""),
            "lang": col("lang", "und"),
            "source": col("source", path.stem),
            "weight": (
                df["weight"].cast(pl.Float64) if "weight" in cols else pl.Series([1.0] * df.height)
            ),
            "cv": pl.Series([cv] * df.height, dtype=pl.Boolean),
        }
    )


def prepare(
    labelled: list[Path],
    extra: list[Path] | None = None,
    extra_weight: float | list[float] = 1.0,
) -> Featurised:
    """extra_weight multiplies the weights of `extra` rows: one value for all, or one per file
    (written rows teach less about real rows than real rows do; see docs/detection.md)."""
    extra = extra or []
    weights = (
        [extra_weight] * len(extra) if isinstance(extra_weight, int | float) else list(extra_weight)
    )
    if len(weights) == 1:
        weights = weights * len(extra)
    if len(weights) != len(extra):
        raise TrainError(
            f"--extra-weight: give one value or one per --extra file ({len(extra)}), got {len(weights)}"
        )
    if any(w <= 0 for w in weights):
        raise TrainError(f"--extra-weight must be > 0, got {weights}")
    frames = [read_labelled(p) for p in labelled] + [
        read_labelled(p, cv=False).with_columns(pl.col("weight") * w)
        for p, w in zip(extra, weights, strict=True)
    ]
    if not frames:
        raise TrainError("no labelled files given")
    frame = pl.concat(frames)
    feats = featurise(frame)
    groups = np.array(
        [
            int(hashlib.sha256((t or "").strip().lower().encode()).hexdigest()[:12], 16)
            for t in frame["text"].to_list()
        ],
        dtype=np.int64,
    )
    return Featurised(
        features=feats,
        labels=frame["label"].to_numpy(),
        ambiguous=frame["note"].str.starts_with("AMBIG").to_numpy(),
        groups=groups,
        weight=frame["weight"].to_numpy().astype(float),
        cv=frame["cv"].to_numpy(),
        frame=frame,
    )


def _targets(labels: np.ndarray) -> dict[str, np.ndarray]:
    return {"minor": labels != "none", "identifiable": labels == "identifiable_child"}


# Token kinds made but not trained on (models of earlier releases hold them and still score):
# - URL-slug word grams (`u:son`, `u:<name>_<age>`): the slug mostly repeats the caption, and
#   counting its words twice cost AP (5-seed CV, identifiable real / LAION-2B / all: 0.437 /
#   0.465 / 0.437 with them, 0.444 / 0.489 / 0.455 without); the slug's class n-grams (`ku:`)
#   and its name conjunctions stay;
# - counts (`n:names=2`, `n:len=3`): caption length and capitalised-word counts say which
#   source a row came from more than whether it names a child (0.459 / 0.490 / 0.465 without).
UNTRAINED_PREFIXES = ("u:", "n:")


def _vocab(rows: list[list[str]], groups: np.ndarray, min_rows: int) -> np.ndarray:
    """Sorted tokens seen in at least `min_rows` distinct captions (`UNTRAINED_PREFIXES` left
    out)."""
    seen: dict[str, set[int]] = {}
    for f, g in zip(rows, groups, strict=True):
        for t in f:
            seen.setdefault(t, set()).add(int(g))
    return np.array(
        sorted(t for t, gs in seen.items() if len(gs) >= min_rows and not t.startswith(UNTRAINED_PREFIXES)),
        dtype=str,
    )


def _matrix(rows: list[list[str]], vocab: np.ndarray):
    import scipy.sparse as sp

    pos = {t: i for i, t in enumerate(vocab.tolist())}
    r, c = [], []
    for i, f in enumerate(rows):
        for t in f:
            j = pos.get(t)
            if j is not None:
                r.append(i)
                c.append(j)
    data = np.ones(len(r))
    m = sp.csr_matrix((data, (r, c)), shape=(len(rows), len(vocab)))
    m.data[:] = 1.0  # duplicates are binary presence
    return m


def _fit(rows, y, w, vocab, c_reg: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    x = _matrix(rows, vocab)
    if y.all() or not y.any():
        return np.zeros(len(vocab), np.float32), (10.0 if y.all() else -10.0)
    lr = LogisticRegression(C=c_reg, max_iter=5000, random_state=seed)
    lr.fit(x, y, sample_weight=w)
    return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])


def _fit_head(head, rows, targets, idx, weight, vocab, c_reg: float, seed: int):
    """Fit one head on rows `idx`; `given_minor` only on the minor rows among them."""
    if head == GIVEN_MINOR:
        keep = targets["minor"][idx]
        sub = idx[keep]
        return _fit(
            [r for r, k in zip(rows, keep, strict=True) if k],
            targets["identifiable"][sub], weight[sub], vocab, c_reg, seed,
        )
    return _fit(rows, targets[head][idx], weight[idx], vocab, c_reg, seed)


@dataclass
class TrainResult:
    """A trained model, its out-of-fold probabilities and the data it came from."""
    model: ScorerModel
    oof: dict[str, np.ndarray]  # calibrated out-of-fold probabilities (0 off-screen)
    data: Featurised


def train(
    data: Featurised,
    folds: int = 5,
    seed: int = 0,
    c_reg: float = 1.0,
    min_rows: int = 3,
    pool: pl.DataFrame | None = None,
) -> TrainResult:
    """Cross-validate, calibrate and fit the two heads; returns model and OOF probabilities."""
    from sklearn.model_selection import StratifiedGroupKFold

    n = len(data.features)
    screened = np.array([f is not None for f in data.features])
    targets = _targets(data.labels)
    trainable = screened & ~data.ambiguous
    cv_rows = np.where(screened & data.cv)[0]
    strat = np.where(targets["identifiable"], 2, np.where(targets["minor"], 1, 0))
    if len(cv_rows) < folds * 2 or targets["identifiable"][cv_rows].sum() < folds:
        raise TrainError(
            f"too few labelled rows for {folds}-fold cross-validation "
            f"({len(cv_rows)} screened rows, {int(targets['identifiable'][cv_rows].sum())} identifiable)"
        )
    extra_rows = np.where(trainable & ~data.cv)[0]
    logits = {h: np.full(n, np.nan) for h in (*HEADS, GIVEN_MINOR)}
    kf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in kf.split(cv_rows, strat[cv_rows], data.groups[cv_rows]):
        tr_i = cv_rows[tr]
        tr_i = np.concatenate([tr_i[trainable[tr_i]], extra_rows])
        te_i = cv_rows[te]
        rows = [data.features[i] for i in tr_i]
        vocab = _vocab(rows, data.groups[tr_i], min_rows)
        test_rows = [data.features[i] for i in te_i]
        for h in (*HEADS, GIVEN_MINOR):
            w, b = _fit_head(h, rows, targets, tr_i, data.weight, vocab, c_reg, seed)
            m = ScorerModel(vocab=vocab, heads={h: Head(w, b)})
            logits[h][te_i] = m.logits(test_rows, h)
    heads: dict[str, Head] = {}
    oof: dict[str, np.ndarray] = {}
    fit_rows = np.where(trainable)[0]
    rows = [data.features[i] for i in fit_rows]
    vocab = _vocab(rows, data.groups[fit_rows], min_rows)
    calib_rows = cv_rows[~data.ambiguous[cv_rows]]
    for h in HEADS:
        a, b0 = platt(logits[h][calib_rows], targets[h][calib_rows])
        w, b = _fit_head(h, rows, targets, fit_rows, data.weight, vocab, c_reg, seed)
        heads[h] = Head(w, b, a, b0)
        p = np.zeros(n)
        p[cv_rows] = sigmoid(a * logits[h][cv_rows] + b0)
        oof[h] = p
    # P(identifiable) = calibrated geometric mean of the direct head and P(minor) x P(id | minor)
    w, b = _fit_head(GIVEN_MINOR, rows, targets, fit_rows, data.weight, vocab, c_reg, seed)
    heads[GIVEN_MINOR] = Head(w, b)
    raw = np.zeros(n)
    raw[cv_rows] = combine_raw(oof["identifiable"][cv_rows], oof["minor"][cv_rows], logits[GIVEN_MINOR][cv_rows])
    ca, cb = platt(raw[calib_rows], targets["identifiable"][calib_rows])
    oof["identifiable"] = np.where(np.isin(np.arange(n), cv_rows), sigmoid(ca * raw + cb), 0.0)
    oof["minor"] = np.maximum(oof["minor"], oof["identifiable"])
    from childguard.scorer.model import row_keys

    model = ScorerModel(vocab=vocab, heads=heads)
    model.train_keys = row_keys(
        data.frame["url"].gather(fit_rows).to_list(), data.frame["text"].gather(fit_rows).to_list()
    )
    model.meta = {
        "feature_version": FEATURE_VERSION,
        "trained_rows": len(fit_rows),
        "seed": seed,
        "folds": folds,
        "c": c_reg,
        "min_rows": min_rows,
        "tokens": len(vocab),
        "combine": {"kind": "geometric", "a": ca, "b": cb},
    }
    if pool is not None:
        # pool rows the model trained on are scored out of fold: in-sample scores of its own
        # training rows would make the pool look cleaner than unseen data is (review bands sized
        # on it would come out too small)
        from childguard.scorer.model import row_key

        cv_i = np.where(data.cv)[0]
        seen = {
            row_key(u, t): (oof["identifiable"][i], oof["minor"][i])
            for i, u, t in zip(
                cv_i,
                data.frame["url"].gather(cv_i).to_list(),
                data.frame["text"].gather(cv_i).to_list(),
                strict=True,
            )
        }
        model.meta["pool_distribution"] = pool_distribution(model, pool, seen)
    digest = hashlib.sha256("\n".join(vocab.tolist()).encode())
    for h in (*HEADS, GIVEN_MINOR):
        digest.update(heads[h].weights.tobytes())
    model.meta["model_id"] = digest.hexdigest()[:12]
    return TrainResult(model=model, oof=oof, data=data)


def pool_distribution(
    model: ScorerModel,
    pool: pl.DataFrame,
    seen: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Rows per million of the pool at or above each probability, per head. `seen`: row key
    -> out-of-fold (identifiable, minor) for pool rows the model was trained on."""
    feats = featurise(pool)
    idx = [i for i, f in enumerate(feats) if f is not None]
    pred = model.predict([feats[i] for i in idx]) if idx else {h: np.zeros(0) for h in HEADS}
    if seen:
        from childguard.scorer.model import row_key

        urls, texts = pool["url"].to_list(), pool["text"].to_list()
        for k, i in enumerate(idx):
            got = seen.get(row_key(urls[i], texts[i]))
            if got is not None:
                pred["identifiable"][k], pred["minor"][k] = got
    thresholds = np.round(np.linspace(0.0, 1.0, 201), 3)
    out: dict[str, Any] = {"rows": int(pool.height), "screened": len(idx)}
    for h in HEADS:
        p = np.sort(pred[h])
        above = len(p) - np.searchsorted(p, thresholds, side="left")
        # threshold 0 counts every row (screened or not): the whole pool is "above 0"
        per_million = above / max(pool.height, 1) * 1e6
        per_million[0] = 1e6
        out[h] = {
            "thresholds": thresholds.tolist(),
            "per_million": np.round(per_million, 2).tolist(),
        }
    return out
