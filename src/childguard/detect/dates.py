"""Dates: "12/08/2021", "18 September 2021", "14 de março de 2020", "2019年11月3日", "12 mai".

On its own a date identifies nobody; the policy pairs it with a child's age (a birthday with a
date pins the child down).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import extract_first, result, scatter_strings, take_list
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext


@register
class Dates(Detector):
    """Detector `dates`: 1.0 on rows with a calendar date (the policy pairs it with an age)."""
    name = "dates"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """1.0 where the screen found a date; evidence `date:<match>`."""
        s = ctx.signals
        n = batch.num_rows
        hit = s["date"]
        idx = hit.arg_true()
        ev: list[str | None] = []
        if len(idx):
            both = take_list(batch, "both_norm", idx)
            ev = [
                f"date:{d}" if d else "date" for d in extract_first(both, signals.patterns().date)
            ]
        return result(self.name, n, hit.cast(pl.Float64), scatter_strings(n, idx, ev), "date")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: dates in child contexts that fire; an age without a date that doesn't."""
        # dates are only computed on rows with some child context (see signals.compute)
        return [
            Example("Aniversário de 7 anos, 23/11/2019", lang="pt"),
            Example("Emma's 6th birthday party, 18 September 2021", lang="en"),
            Example("Aniversário de 7 anos", fires=False, lang="pt"),
        ]
