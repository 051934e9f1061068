"""The trained scorer: decides the screen's candidates with calibrated probabilities.

Stage one is the screen every row passes through (`signals.compute`: one automaton of child,
kinship, school and event words plus age/class/handle patterns over whole columns); only its
candidates (a few percent of web rows) get feature tokens and the model (`childguard.scorer`).
Outputs: `scorer__score` = P(identifiable child), `scorer__minor` = P(any minor), evidence =
the model's top features, allowlisted (lexicon words, placeholders and signal names only).

Options: `model` = path of a model trained with `childguard train` (default: the shipped one).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect._util import scatter_strings
from childguard.detect.base import LABELLED_OUTPUTS, Detector, DetectorOptions, Example, register
from childguard.detect.context import BatchContext
from childguard.scorer.features import DETECTOR_FEATURES, feature_ids
from childguard.scorer.model import ScorerModel, load_model


@register
class Scorer(Detector):
    """Detector `scorer`: the trained model's P(identifiable child) and P(minor) per row."""

    name = "scorer"
    version = "1"
    after = DETECTOR_FEATURES
    outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "minor": pa.float64()}

    class Options(DetectorOptions):
        """The scorer's options: which trained model to load."""

        model: str | None = None  # path of a `childguard train` model; None: the shipped one

    opts: Options

    def setup(self) -> None:
        """Load the model named by the `model` option (the shipped model when unset)."""
        path = self.opts.model
        self.model: ScorerModel = load_model(str(path) if path else None)

    def describe(self) -> dict[str, object]:
        """The base description plus the loaded model's id (loads the model if needed)."""
        d = super().describe()
        self.ensure_setup()
        d["model_id"] = self.model.model_id
        return d

    def band_threshold(self, below: float, per_million: float) -> float:
        """The P(identifiable) from which a review band under `below` holds about
        `per_million` rows per million (from the model's pool distribution)."""
        self.ensure_setup()
        return self.model.threshold_for_band(below, per_million)

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Model probabilities for the screen's candidates (0 elsewhere), with top features."""
        n = batch.num_rows
        sig = ctx.signals
        idx = sig["candidate"].arg_true().to_numpy()
        p_id = np.zeros(n)
        p_minor = np.zeros(n)
        ev_rows: list[int] = []
        ev_text: list[str] = []
        if len(idx):
            m = self.model
            r, v = feature_ids(batch, sig, idx, m.vocab_series)
            pred = m.probabilities(m.id_logits(r, v, len(idx)))
            p_id[idx] = pred["identifiable"]
            p_minor[idx] = pred["minor"]
            # explanations only where a policy can act (P >= 0.05): a few rows per batch
            shown = np.where(pred["minor"] >= 0.05)[0]
            ident = shown[pred["identifiable"][shown] >= 0.05]
            tr, tv = m.top_ids(
                r, v, {"identifiable": ident, "minor": np.setdiff1d(shown, ident)}
            )
            ev_rows = idx[shown].tolist()
            ev_text = _evidence(m, shown, pred, tr, tv).to_list()
        # one small gather per column, no per-row Python list over the batch (a label list
        # of every row cost ~35 ns a row); through Polars: `pa.array` on numpy or lists
        # imports pandas (0.15 s per process)
        which = np.full(n, 2, np.uint32)  # positions in `labels`
        which[p_minor >= 0.5] = 1
        which[p_id >= 0.5] = 0
        labels = pl.Series(["identifiable", "minor", None], dtype=pl.String)
        cols = {
            "scorer__score": pl.Series(p_id, dtype=pl.Float64),
            "scorer__minor": pl.Series(p_minor, dtype=pl.Float64),
            "scorer__evidence": scatter_strings(n, ev_rows, ev_text),
            "scorer__label": labels.gather(pl.Series(which)),
        }
        return pa.table(
            {
                k: v.to_arrow().cast(pa.float64() if v.dtype == pl.Float64 else pa.string())
                for k, v in cols.items()
            }
        )

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: an identifiable child that fires; a landscape that doesn't."""
        return [
            Example("happy 2nd birthday to my son Lucas at Escola Pequeno Mundo", lang="en"),
            Example("Sunset over the lake", fires=False, lang="en"),
        ]


def _evidence(
    m: ScorerModel, shown: np.ndarray, pred: dict[str, np.ndarray], tr: np.ndarray, tv: np.ndarray
) -> pl.Series:
    """Per shown row: "p_id=.. p_minor=.." and its allowlisted top features (`top_ids` pairs
    (tr, tv), sorted by row); the numbers formatted by Python, the rest joined in Polars."""
    ok = m.evidence_ids()[tv]  # evidence by allowlist, after the top features
    tops = (
        pl.DataFrame(
            {
                "k": pl.Series(tr[ok], dtype=pl.Int64),
                "t": m.vocab_series.gather(pl.Series(tv[ok], dtype=pl.UInt32)),
            }
        )
        .group_by("k", maintain_order=True)
        .agg(pl.col("t").str.join(","))
    )
    ids, minor = pred["identifiable"][shown].tolist(), pred["minor"][shown].tolist()
    head = [f"p_id={a:.2f} p_minor={b:.2f}" for a, b in zip(ids, minor, strict=True)]
    return (
        pl.DataFrame({"k": pl.Series(shown, dtype=pl.Int64), "h": pl.Series(head, dtype=pl.String)})
        .join(tops, on="k", how="left", maintain_order="left")
        .select(pl.concat_str("h", pl.lit(" top:") + pl.col("t"), ignore_nulls=True))
        .to_series()
    )
