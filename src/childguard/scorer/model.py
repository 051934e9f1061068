"""The trained scorer: calibrated linear heads over feature tokens.

`P(minor)`: the row's picture shows (or is about) a minor; `P(identifiable)`: a minor plus
something that identifies or locates them. Each head is a logistic regression over the feature
tokens of `features.py`, followed by Platt scaling fitted on cross-validated predictions, so
its outputs are probabilities that a policy can threshold and a report can sum.

A third head, `given_minor`, is trained on minor rows only (identifiable vs not): what makes a
child identifiable is learnt apart from what makes a row about a child. P(identifiable) is then
the geometric mean of the direct head and P(minor) x P(identifiable | minor), Platt-calibrated
again on cross-validated predictions (+0.02 average precision on real rows over the direct
head alone, on each of 3 CV seeds; docs/detection.md).

The file is one `.npz` (numpy arrays only, loaded with `allow_pickle=False`): the kept feature
tokens (placeholdered words, signal and detector names: readable, auditable, never a name),
one weight array per head, 64-bit keys of its training rows, and a JSON string with intercepts,
calibration, the score distribution on an unlabelled pool (for sizing a review band in rows
per million) and the cross-validated metrics of its training run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from childguard.scorer.calibration import sigmoid
from childguard.scorer.features import FEATURE_VERSION, READABLE_FEATURE_VERSIONS

MODEL_FORMAT = 1
HEADS = ("minor", "identifiable")  # the probabilities a model gives
GIVEN_MINOR = "given_minor"  # optional head: P(identifiable | minor), trained on minor rows
DEFAULT_MODEL = "default_model.npz"


class ModelError(ValueError):
    """A model file that is missing or unusable, or a model that cannot do what is asked."""
    pass


@dataclass
class Head:
    """One logistic head: token weights, intercept and Platt calibration (a, b)."""
    weights: np.ndarray  # float32, aligned with ScorerModel.vocab (tokens)
    intercept: float
    calib_a: float = 1.0  # p = sigmoid(a * z + b) on the raw logit z
    calib_b: float = 0.0


@dataclass
class ScorerModel:
    """The caption scorer: token vocabulary, identifiable/minor heads and metadata."""
    vocab: np.ndarray  # sorted feature tokens (str)
    heads: dict[str, Head]
    meta: dict[str, Any] = field(default_factory=dict)
    # 64-bit keys of the rows it was trained on (`row_keys`), so `eval` can say when it is
    # measuring a model on its own training rows
    train_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    _weights_table: pl.DataFrame | None = field(default=None, repr=False, compare=False)
    _by_id: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def trained_on(self, urls: list[str | None], texts: list[str | None]) -> np.ndarray:
        """Per row: was this (URL, caption) among the model's training rows?"""
        if not len(self.train_keys):
            return np.zeros(len(urls), bool)
        return np.isin(row_keys(urls, texts), self.train_keys)

    # scoring -------------------------------------------------------------------------------
    @property
    def vocab_series(self) -> pl.Series:
        """The model's tokens as a Polars column (features outside it weigh nothing); the same
        object on every call, so that feature look-ups can keep its index."""
        return self._ids()["vocab"]

    def _ids(self) -> dict[str, Any]:
        """Per token position: float64 weights per head, rank in string order, evidence flag."""
        d = self._by_id
        if d is None:
            from childguard.scorer.features import evidence_token

            tokens = self.vocab.astype(str)
            rank = np.empty(len(tokens), np.int64)
            # the order of a Polars sort of the strings (UTF-8 bytes: code points)
            rank[np.argsort(tokens, kind="stable")] = np.arange(len(tokens))
            d = {
                "vocab": self._table()["token"],
                "w": {n: h.weights.astype(np.float64) for n, h in self.heads.items()},
                "rank": rank,
                "evidence": np.array([evidence_token(t) is not None for t in tokens.tolist()], bool),
                "best": {},
            }
            self._by_id = d
        return d

    def _table(self) -> pl.DataFrame:
        """Token -> one weight column per head (built once, then joined per batch)."""
        t = self._weights_table
        if t is None:
            cols = {"token": pl.Series(self.vocab.astype(str).tolist(), dtype=pl.String)}
            for n, h in self.heads.items():
                cols[f"w_{n}"] = pl.Series(h.weights.astype(np.float64))
            t = pl.DataFrame(cols)
            self._weights_table = t
        return t

    def frame_logits(self, ff: pl.DataFrame, n: int) -> dict[str, np.ndarray]:
        """Raw logits per head for a long (row, token) feature frame of n rows."""
        t = self._table()
        j = ff.join(t, on="token", how="inner")
        sums = j.group_by("row").agg([pl.col(f"w_{h}").sum() for h in self.heads])
        out = {}
        for h, head in self.heads.items():
            z = np.full(n, head.intercept, dtype=np.float64)
            if sums.height:
                z[sums["row"].to_numpy()] += sums[f"w_{h}"].to_numpy()
            out[h] = z
        return out

    def id_logits(self, rows: np.ndarray, ids: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """Raw logits per head for (row, token position) pairs of n rows (`feature_ids`)."""
        w = self._ids()["w"]
        return {
            h: head.intercept + np.bincount(rows, weights=w[h][ids], minlength=n)
            for h, head in self.heads.items()
        }

    def top_ids(
        self, rows: np.ndarray, ids: np.ndarray, heads: dict[str, np.ndarray], top: int = 4
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top features on (row, token position) pairs: for the rows of each head (`heads`:
        head -> its rows, disjoint), the (row, position) pairs of the `top` features that
        raise that head's logit most, sorted by row, then weight (descending), then token."""
        d = self._ids()
        v_n = len(self.vocab)
        n = int(rows.max()) + 1 if len(rows) else 0
        # per pair: its row's head's order of the token (by weight descending, then token),
        # so that one integer sort of row * V + order sorts by (row, -weight, token)
        order = np.full(len(rows), -1, np.int64)
        back = {}
        for h, sel in heads.items():
            mine = np.zeros(n + 1, bool)
            mine[sel[sel < n]] = True
            m = mine[rows] & (d["w"][h][ids] > 0)
            by, place = self._best_first(h)
            order[m] = place[ids[m]]
            back[h] = (mine, by)
        keep = order >= 0
        key = np.sort(rows[keep].astype(np.int64) * v_n + order[keep])
        r, o = key // v_n, key % v_n
        v = np.zeros(len(r), np.int64)
        for mine, by in back.values():
            m = mine[r]
            v[m] = by[o[m]]
        start = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.int64)
        first = np.repeat(start, np.diff(np.r_[start, len(r)]))
        ok = np.arange(len(r)) - first < top
        return r[ok], v[ok]

    def _best_first(self, head: str) -> tuple[np.ndarray, np.ndarray]:
        """(token positions by the head's weight descending, then token; each one's place)."""
        d = self._ids()
        if head not in d["best"]:
            by = np.lexsort((d["rank"], -d["w"][head]))
            place = np.empty(len(by), np.int64)
            place[by] = np.arange(len(by))
            d["best"][head] = (by, place)
        return d["best"][head]

    def evidence_ids(self) -> np.ndarray:
        """Per token position: may the token be shown as evidence (`evidence_token`)?"""
        return self._ids()["evidence"]

    def predict_frame(self, ff: pl.DataFrame, n: int) -> dict[str, np.ndarray]:
        """Calibrated probability per head for a long (row, token) feature frame."""
        return self.probabilities(self.frame_logits(ff, n))

    def probabilities(self, z: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calibrated P(minor) and P(identifiable) from the raw logits of every head."""
        out = {h: sigmoid(self.heads[h].calib_a * z[h] + self.heads[h].calib_b) for h in HEADS}
        comb = self.meta.get("combine")
        if GIVEN_MINOR in self.heads and comb:
            out["identifiable"] = combine_identifiable(
                out["identifiable"], out["minor"], z[GIVEN_MINOR], comb["a"], comb["b"]
            )
        # a row cannot be an identifiable minor more likely than a minor
        out["minor"] = np.maximum(out["minor"], out["identifiable"])
        return out

    def predict(self, feature_lists: list[list[str]]) -> dict[str, np.ndarray]:
        """Calibrated probability per head for rows given as token lists."""
        return self.predict_frame(lists_to_frame(feature_lists), len(feature_lists))

    def logits(self, feature_lists: list[list[str]], head: str) -> np.ndarray:
        """Raw logits of one head for rows given as lists of feature tokens."""
        return self.frame_logits(lists_to_frame(feature_lists), len(feature_lists))[head]

    # review-band sizing ----------------------------------------------------------------------
    def rows_per_million_above(self, p: float, head: str = "identifiable") -> float | None:
        """Rows per million of the pool the model was sized on whose probability is >= p."""
        dist = self.meta.get("pool_distribution", {}).get(head)
        if not dist:
            return None
        thr = np.asarray(dist["thresholds"])
        rate = np.asarray(dist["per_million"])
        k = int(np.searchsorted(thr, p, side="left"))
        return float(rate[k]) if k < len(rate) else 0.0

    def threshold_for_band(
        self, upper: float, per_million: float, head: str = "identifiable"
    ) -> float:
        """The lowest p such that rows with p in [p, upper) are at most `per_million`."""
        dist = self.meta.get("pool_distribution", {}).get(head)
        if not dist:
            raise ModelError(
                "this model has no pool distribution: a review band in rows per million needs "
                "a model trained with --pool"
            )
        thr = np.asarray(dist["thresholds"], dtype=float)
        rate = np.asarray(dist["per_million"], dtype=float)
        above_upper = self.rows_per_million_above(upper, head) or 0.0
        ok = (rate - above_upper <= per_million) & (thr < upper)
        return float(thr[ok].min()) if ok.any() else upper

    # files -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model to a .npz file atomically (vocab, weights, meta, keys)."""
        import os
        import tempfile

        meta = {
            **self.meta,
            "format": MODEL_FORMAT,
            "feature_version": FEATURE_VERSION,
            "heads": {
                n: {"intercept": h.intercept, "calib_a": h.calib_a, "calib_b": h.calib_b}
                for n, h in self.heads.items()
            },
        }
        arrays = {"vocab": np.asarray(self.vocab, dtype=str)}
        for n, h in self.heads.items():
            arrays[f"w_{n}"] = h.weights.astype(np.float32)
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
        arrays["train_keys"] = np.unique(self.train_keys.astype(np.uint64))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
        os.close(fd)
        try:
            np.savez_compressed(tmp, **arrays)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @property
    def model_id(self) -> str:
        """The model's id from its metadata ("unknown" when absent)."""
        return str(self.meta.get("model_id", "unknown"))


def combine_raw(p_direct: np.ndarray, p_minor: np.ndarray, z_given: np.ndarray) -> np.ndarray:
    """The logit of sqrt(P_direct(identifiable) x P(minor) x P(identifiable | minor))."""
    eps = 1e-12
    lp = 0.5 * (
        np.log(np.clip(p_direct, eps, 1.0))
        + np.log(np.clip(p_minor, eps, 1.0))
        + np.log(np.clip(sigmoid(z_given), eps, 1.0))
    )
    p = np.exp(lp)
    return np.log(np.clip(p, eps, 1 - 1e-9)) - np.log(np.clip(1.0 - p, 1e-9, 1.0))


def combine_identifiable(
    p_direct: np.ndarray, p_minor: np.ndarray, z_given: np.ndarray, a: float, b: float
) -> np.ndarray:
    """Calibrated P(identifiable) from the direct head, P(minor) and the given-minor logit."""
    return sigmoid(a * combine_raw(p_direct, p_minor, z_given) + b)


def lists_to_frame(feature_lists: list[list[str]]) -> pl.DataFrame:
    """Per-row token lists as a long (row, token) frame, duplicates dropped."""
    lens = [len(f) for f in feature_lists]
    return pl.DataFrame(
        {
            "row": pl.Series(np.repeat(np.arange(len(feature_lists)), lens), dtype=pl.UInt32),
            "token": pl.Series([t for f in feature_lists for t in f], dtype=pl.String),
        }
    ).unique(maintain_order=True)


def row_key(url: str | None, text: str | None) -> str:
    """Hex SHA-256 of URL + "\\x1f" + caption: how labels files (labels/*.csv) name a row."""
    return hashlib.sha256(((url or "") + "\x1f" + (text or "")).encode("utf-8")).hexdigest()


def row_keys(urls: list[str | None], texts: list[str | None]) -> np.ndarray:
    """The first 8 bytes of `row_key` per row, as uint64 (a model's training-row keys)."""
    return np.array(
        [int(row_key(u, t)[:16], 16) for u, t in zip(urls, texts, strict=True)], dtype=np.uint64
    )


def load_model(path: str | Path | None = None) -> ScorerModel:
    """Load a scorer model; None loads the one shipped in the package."""
    if path is None:
        ref = resources.files("childguard.scorer").joinpath(DEFAULT_MODEL)
        with resources.as_file(ref) as p:
            return load_model(p)
    p = Path(path)
    try:
        z = np.load(p, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        vocab = z["vocab"]
        names = [*HEADS, *([GIVEN_MINOR] if f"w_{GIVEN_MINOR}" in z.files else [])]
        weights = {n: z[f"w_{n}"] for n in names}
        train_keys = z["train_keys"] if "train_keys" in z.files else np.zeros(0, np.uint64)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {p}") from None
    except (OSError, KeyError, ValueError):
        raise ModelError(
            f"{p}: not a childguard scorer model (expected the .npz `childguard train` writes)"
        ) from None
    if meta.get("format") != MODEL_FORMAT:
        raise ModelError(
            f"{p}: model format {meta.get('format')} (this childguard reads {MODEL_FORMAT})"
        )
    if meta.get("feature_version") not in READABLE_FEATURE_VERSIONS:
        raise ModelError(
            f"{p}: trained on features v{meta.get('feature_version')}, this childguard makes "
            f"v{FEATURE_VERSION}: retrain it with `childguard train`"
        )
    heads = {
        n: Head(
            weights=weights[n],
            intercept=float(meta["heads"][n]["intercept"]),
            calib_a=float(meta["heads"][n]["calib_a"]),
            calib_b=float(meta["heads"][n]["calib_b"]),
        )
        for n in weights
    }
    return ScorerModel(vocab=vocab, heads=heads, meta=meta, train_keys=train_keys)
