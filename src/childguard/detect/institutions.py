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

import polars as pl
import pyarrow as pa

from childguard.detect._util import fold, result, scatter_strings
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

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score rows naming an institution next to child context; evidence is the institution word."""
        s = ctx.signals
        n = batch.num_rows
        strong = s["class_des"] | s["youth"] | s["class_num"]
        generic = s["school"] | s["hospital"] | s["youth_sport"] | s["host_school"]
        check = (generic & ~strong).arg_true()
        named: list[int] = []
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
        idx = (score > 0).arg_true()
        ev = []
        for i in idx.to_list():
            kind = (
                "class"
                if s["class_des"][i]
                else "age group"
                if s["youth"][i]
                else "hospital"
                if s["hospital"][i]
                else "school"
            )
            ev.append(f"{kind}:{'named' if spec[i] else 'generic'}")
        return result(self.name, n, score, scatter_strings(n, idx, ev), "institution")

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
