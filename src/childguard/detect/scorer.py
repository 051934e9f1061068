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
from childguard.scorer.features import DETECTOR_FEATURES, evidence_token, feature_frame
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
            ff = feature_frame(batch, sig, idx, self.model.vocab_series)
            pred = self.model.predict_frame(ff, len(idx))
            p_id[idx] = pred["identifiable"]
            p_minor[idx] = pred["minor"]
            # explanations only where a policy can act (P >= 0.05): a few rows per batch
            shown = np.where(pred["minor"] >= 0.05)[0]
            ident = shown[pred["identifiable"][shown] >= 0.05]
            tops = self.model.top_features(ff, ident, "identifiable")
            tops.update(self.model.top_features(ff, np.setdiff1d(shown, ident), "minor"))
            for k in shown.tolist():
                ev = [e for e in (evidence_token(t) for t in tops.get(k, [])) if e]
                ev_rows.append(int(idx[k]))
                ev_text.append(
                    f"p_id={pred['identifiable'][k]:.2f} p_minor={pred['minor'][k]:.2f}"
                    + (" top:" + ",".join(ev) if ev else "")
                )
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
