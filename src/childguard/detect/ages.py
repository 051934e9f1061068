"""Ages of minors: "5 anos", "3-year-old", "5yo", "2 ans", "8 Jahre", "6 meses", "4th
birthday", "3歳", "(7 лет)".

Only ages under 18 count, and not warranties ("5 anos de garantia"), sizes ("tam 4 anos"),
companies ("comemora 10 anos"), reunions ("25 anos depois"), pets or dolls.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import extract_first, result, scatter_strings, take_list
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext


@register
class Ages(Detector):
    """Detector `ages`: 1.0 on rows that state the age of a minor."""
    name = "ages"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """1.0 where caption or URL gives a child's age; evidence `age:<match>`."""
        s = ctx.signals
        hit = signals.child_age(s)
        n = batch.num_rows
        idx = hit.arg_true()
        ev: list[str | None] = []
        if len(idx):
            p = signals.patterns()
            # the age itself, not a duration before it ("il y a 3 ans, ma fille ... 2 ans")
            both = pl.DataFrame({"b": take_list(batch, "both_norm", idx)}, schema={"b": pl.String})
            ages = both.select(signals.without_durations(pl.col("b"), p))["b"].to_list()
            found = extract_first(ages, p.age_child)
            ev = [f"age:{f}" if f else "age" for f in found]
        return result(self.name, n, hit.cast(pl.Float64), scatter_strings(n, idx, ev), "age")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: children's ages that fire; warranties, sizes, adults that don't."""
        return [
            Example("Heitor completando 2 aninhos hoje!", lang="pt"),
            Example("my 3yo finally slept through the night", lang="en"),
            Example("Joyeux anniversaire, 5 ans aujourd'hui", lang="fr"),
            Example("陽翔、3歳のお誕生日おめでとう", lang="ja"),
            Example("Alles Gute zum 4. Geburtstag", lang="de"),
            Example("Liquidificador Turbo – 5 anos de garantia", fires=False, lang="pt"),
            Example("Vestido Infantil Tam 4 anos", fires=False, lang="pt"),
            Example("Maria Fernanda, 35 anos, confeiteira", fires=False, lang="pt"),
            Example("Padaria Pão Dourado comemora 10 anos", fires=False, lang="pt"),
        ]
