"""Child terms: words and phrases that make a minor the subject of the row.

"criança", "toddler", "meu filho", "first communion", a class of pupils ("3º ano B"), a youth
age group ("U10", "sub-9"), a child model on a shop page. Not when the minor words are about
pets ("meu bebê Thor 🐶"), dolls, the infant Jesus, Children's Day sales or campaigns, adult
women ("the girls from the office") or adults in business/wedding contexts ("filho do
fundador").
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import result, scatter_strings
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext
from childguard.detect.lexicon import load_lexicon

_EVIDENCE_CATS = ("child_model", "child", "relation", "event", "youth_sport", "child_ambiguous")


@register
class ChildTerms(Detector):
    """A minor is the subject of the row: child, kinship, school or event words, not pets or products."""
    name = "child_terms"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def setup(self) -> None:
        """Load the child words shown as evidence."""
        lex = load_lexicon()
        self._terms = [t for c in _EVIDENCE_CATS for t in lex.get(c)]

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score rows whose signals say a minor is the subject, with the child word as evidence."""
        s = ctx.signals
        hit = signals.minor_subject(s)
        n = batch.num_rows
        idx = hit.arg_true()
        ev: list[str | None] = []
        if len(idx):
            rows = s.select("child_word", "class_des", "youth")[idx]
            ev = [
                f"term:{t}" if t else ("class" if c else ("age group" if y else "minor"))
                for t, c, y in rows.iter_rows()
            ]
        return result(self.name, n, hit.cast(pl.Float64), scatter_strings(n, idx, ev), "minor")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: child words that fire, and pet/product uses that do not."""
        return [
            Example("Menino jogando bola no campo", lang="pt"),
            Example("Little girl playing in the park", lang="en"),
            Example("ひよこ組のお絵かきの時間", lang="ja"),
            Example("Маленькая девочка играет в парке", lang="ru"),
            Example("Boys' rain jacket – shown on model, age 6-7", lang="en"),
            Example("Meu bebê Thor fez 3 anos hoje 🐶🎂", fires=False, lang="pt"),
            Example("as meninas do RH no happy hour", fires=False, lang="pt"),
            Example("Dia das Crianças: brinquedos com até 50% OFF", fires=False, lang="pt"),
            Example("Boneca Bebê Reborn 48cm", fires=False, lang="pt"),
            Example("Filho do fundador assume a presidência", fires=False, lang="pt"),
            Example("Sunset over the lake", fires=False, lang="en"),
        ]
