"""Institutions that place a child: a named school, daycare, class, youth team or hospital.

Score 1.0 for a specific one: a class designation ("3º ano B", "Klasse 2b", "2年3組"), a youth
age group ("U10", "sub-9", "2013 г.р."), or a school/daycare/hospital word next to a proper
name or number ("Escolinha Pingo de Gente", "Larkfield Primary", "гимназии №1",
"朝霧台小学校"). Score 0.5 for a generic mention ("à l'école", "primary school classroom",
a school's own domain). The policy pairs this with a minor subject: a school building alone
is not a child.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect._util import fold, result, take_rows
from childguard.detect._word_table import WordTable
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext
from childguard.detect.lexicon import load_lexicon

_TOKEN = re.compile(r"\w+", re.UNICODE)
_CJK_BEFORE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# lower-case connectors allowed between a school word and its proper name
_CONNECTORS = {
    "de", "da", "do", "das", "dos", "des", "du", "la", "le", "el", "am", "an", "der", "di",
    "del", "della", "nr", "n", "no", "of", "the", "van", "w", "im",
}  # fmt: skip


@register
class Institutions(Detector):
    """Named schools, daycares, clubs and classes that place a child (caption, slug or host)."""
    name = "institutions"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def setup(self) -> None:
        """Load the school and hospital words (CJK ones matched as substrings) and build their patterns."""
        lex = load_lexicon()
        words: set[str] = set()
        cjk: list[str] = []
        for cat in ("school", "hospital"):
            for t in lex.get(cat):
                if re.search(r"[\u3040-\u30ff\u3400-\u9fff]", t):
                    cjk.append(t)
                elif " " not in t and len(t) > 2:
                    words.add(t)
        self._words = words
        self._word_table = WordTable(dict.fromkeys(words, 1))
        self._cjk = cjk
        self._lexical = {t for ts in lex.terms.values() for t in ts if " " not in t}

    def _specific(self, text: str) -> bool:
        toks = [(m.group(0), m.start()) for m in _TOKEN.finditer(text)]
        folded = [fold(t) for t, _ in toks]
        alpha = [t for t, _ in toks if t[:1].isalpha()]
        if len(alpha) >= 4 and sum(t[0].isupper() for t in alpha) / len(alpha) >= 0.9:
            return False  # Title Case Caption: capitals say nothing
        for i, f in enumerate(folded):
            if f not in self._words:
                continue
            # proper name or number right after (skipping one connector), or right before
            for j in (i + 1, i + 2):
                if j >= len(toks):
                    break
                tok = toks[j][0]
                if tok.isdigit():
                    return True
                if tok[0].isupper() and folded[j] not in self._lexical:
                    return True
                if folded[j] not in _CONNECTORS:
                    break
            if i >= 2 and toks[i - 1][0][0].isupper() and folded[i - 1] not in self._lexical:
                return True
        for t in self._cjk:
            k = text.find(t)
            if k > 0 and _CJK_BEFORE.match(text[k - 1]):
                return True
        return False

    def _may_be_specific(self, batch: pa.Table, rows: np.ndarray) -> pl.Series:
        """The rows `_specific` may accept: a school word among the caption's words. In an
        ASCII caption `_specific`'s words (`\\w+`, folded) are textnorm's tokens, so a caption
        with none of them is skipped; other captions all go to `_specific`."""
        raw = pl.from_arrow(take_rows(batch.column("text"), rows))
        assert isinstance(raw, pl.Series)
        raw = raw.cast(pl.String).fill_null("")
        other = (raw.str.len_bytes() != raw.str.len_chars()).to_numpy()
        word = self._word_table.tokens(batch.column("text_norm"), rows).has(1)
        return pl.Series(rows[word | other])

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score rows naming an institution next to child context; evidence is the institution word."""
        s = ctx.signals
        n = batch.num_rows
        strong = s["class_des"] | s["youth"] | s["class_num"]
        generic = s["school"] | s["hospital"] | s["youth_sport"] | s["host_school"]
        check = (generic & ~strong).arg_true()
        named: list[int] = []
        if len(check):
            check = self._may_be_specific(batch, check.to_numpy())
        if len(check):
            texts = batch.column("text").take(check.to_arrow()).to_pylist()
            named = [
                i for i, t in zip(check.to_list(), texts, strict=True) if t and self._specific(t)
            ]
        spec = pl.repeat(False, n, dtype=pl.Boolean, eager=True)
        if named:
            spec = spec.scatter(named, True)
        spec = spec | strong
        df = pl.DataFrame({"s": spec, "g": generic})
        score = df.select(pl.when("s").then(1.0).when("g").then(0.5).otherwise(0.0).alias("x"))["x"]
        # evidence: the kind of institution and whether it is named (no per-row lookups)
        kind = (
            pl.when(pl.col("class_des"))
            .then(pl.lit("class"))
            .when(pl.col("youth"))
            .then(pl.lit("age group"))
            .when(pl.col("hospital"))
            .then(pl.lit("hospital"))
            .otherwise(pl.lit("school"))
        )
        named_ = pl.when(pl.col("s")).then(pl.lit("named")).otherwise(pl.lit("generic"))
        ev = (
            pl.DataFrame(
                {
                    "class_des": s["class_des"],
                    "youth": s["youth"],
                    "hospital": s["hospital"],
                    "s": spec,
                    "x": score,
                }
            )
            .select(
                pl.when(pl.col("x") > 0)
                .then(pl.concat_str([kind, pl.lit(":"), named_]))
                .otherwise(pl.lit(None, pl.String))
                .alias("ev")
            )["ev"]
        )
        return result(self.name, n, score, ev, "institution")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: named schools and classes that fire, shops and adults' workplaces that do not."""
        return [
            Example("Formatura do ABC – 1º ano C da E.M. Dirce Amaral", lang="pt"),
            Example("Lily's first day at Larkfield Primary", lang="en"),
            Example("Дарья, ученица гимназии №1", lang="ru"),
            Example("U10 Girls: great goal vs Westmoor", lang="en"),
            Example("朝霧台小学校 2年3組 運動会", lang="ja"),
            Example("Sunset over the lake", fires=False, lang="en"),
        ]
