"""Birth records: a birth word or a maternity ward with a birth weight, a time of birth, or a
date with a birth length ("nasceu 12/08/2021 às 14h32, 3,120 kg e 49 cm", "7 lb 9 oz").

Score 1.0 for a birth record; 0.5 for a birth word with a date only (not enough on its own).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import result, scatter_strings
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext


@register
class BirthDetails(Detector):
    """Detector `birth_details`: 1.0 on birth records, 0.5 on a birth word with a date."""
    name = "birth_details"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score a batch (1.0 record, 0.5 birth word + date); evidence lists the signals."""
        s = ctx.signals
        birth = (s["birth"] | s["hospital"]) & ~signals.negated(s) & ~s["neg_product"]
        record = (birth & (s["weight"] | s["time"] | (s["date"] & s["length"]))) | (
            s["weight"] & s["length"] & ~s["neg_product"] & ~signals.negated(s)
        )
        weak = birth & s["date"] & ~record
        score = pl.DataFrame({"r": record, "w": weak}).select(
            pl.when("r").then(1.0).when("w").then(0.5).otherwise(0.0).alias("s")
        )["s"]
        n = batch.num_rows
        idx = (score > 0).arg_true()
        ev = []
        for i in idx.to_list():
            parts = [
                k for k in ("birth", "hospital", "weight", "time", "date", "length") if s[k][i]
            ]
            ev.append(" ".join(parts))
        return result(self.name, n, score, scatter_strings(n, idx, ev), "birth record")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: birth announcements that fire; product weights that don't."""
        return [
            Example("Welcome to the world! Born 3/14/2022 at 6:41 am, 7 lb 9 oz, 20 in", lang="en"),
            Example("Родился 03.03.2022 в 07:10 в роддоме №2, вес 3500 г, рост 53 см", lang="ru"),
            Example("Lavadora 8 kg A+++ con 5 años de garantía", fires=False, lang="es"),
            Example("Boneca Bebê Reborn 48cm 2,5 kg", fires=False, lang="pt"),
        ]
