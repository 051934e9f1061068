"""Personal names of children: a given name next to a child context.

A name list alone hits a third of web rows, so a name counts only when it sits next to a
kinship word ("nosso filho Lucas", "and her daughter Ava"), a possessive or child word
("notre Gabin", "little Maddie"), a child's age ("Lucas (6)", "Finn, 5", "miguel-6-anos"), a
birthday or child event ("aniversário de 7 anos do Bernardo", "primeira-eucaristia-isabelly"),
or in a row that is about a minor at a class, team, daycare or birth ("Na foto: Lorena, Davi e
Enzo"). In captions, names must be capitalised (unless the caption is all lower case); names
that are ordinary words ("Rosa", "Sol", "Luz", "May", "Baby", "Vitória") count only right
after a kinship word or right before an age. Adults are excluded: an adult age right after the
name ("Maria Fernanda, 35 anos"), or business/wedding contexts without a child's age.
Japanese: name + ちゃん/くん, kinship word + name (息子の悠真), name + age (陽翔、3歳).

Vectorised filters pick the few candidate rows; only those get per-row Python.
Evidence carries initials only (`name:L. context:filho`).
"""

from __future__ import annotations

import re

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import fold, result, scatter_strings
from childguard.detect.base import Detector, Example, register
from childguard.detect.lexicon import CATEGORIES, load_lexicon, load_name_list, word_patterns
from childguard.redact import initials

_WORD = re.compile(r"\w+", re.UNICODE)
_HAN = r"\p{Han}"
# Japanese patterns (on the raw caption; `re` has no \p{Han}, so spell the ranges)
_H = "[\u3400-\u9fff]"
_K = "[\u3041-\u3096\u30a1-\u30fa]"
JA_SUFFIX = re.compile(rf"({_H}{{1,3}})(?:ちゃん|くん|君)")
JA_KIN = re.compile(rf"(?:息子|娘|長女|長男|次女|次男|三女|三男)(?:の|・|\(|（|、| )?({_H}{{1,3}})")
JA_AGE = re.compile(rf"({_H}{{1,3}})[、, ]?(?:[0-9]|1[0-7])(?:歳|さい|才)")
JA_SAN_AGE = re.compile(rf"({_H}{{2,5}})さん[\(（](?:[0-9]|1[0-7])[\)）]")
JA_NOT_NAME = {"赤", "お姉", "姉", "兄", "弟", "妹", "孫", "甥", "姪", "息子", "娘", "子"}
JA_ANY = "[\u3040-\u30ff\u3400-\u9fff]"

_CHILD_NUM = re.compile(r"^(?:[0-9]|1[0-7])$")
_ADULT_NUM = re.compile(r"^(?:1[89]|[2-9][0-9])$")
WINDOW = 3


@register
class Names(Detector):
    name = "names"
    version = "1"

    def setup(self) -> None:
        lex = load_lexicon()
        given = set(load_name_list())
        extra = set(lex.get("names"))
        lexical = {t for c, ts in lex.terms.items() if c not in ("names", "not_names") for t in ts}
        self._strict = set(lex.get("not_names"))
        names = {
            n
            for n in (given | extra)
            if len(n) >= 3 and " " not in n and (n not in lexical or n in extra)
        }
        self._names = names
        self._patterns = word_patterns(sorted(n for n in names if not re.search(JA_ANY, n)))
        single = lambda cats: {  # noqa: E731
            t for c in cats for t in lex.get(c) if " " not in t
        }
        phrases = lambda cats: [  # noqa: E731
            t.split(" ") for c in cats for t in lex.get(c) if " " in t
        ]
        near = ("relation", "possessive", "child", "child_ambiguous")
        self._near = single(near)
        self._near_phrases = phrases(near)
        ctx = ("birthday", "event", "age_years", "age_months", "age_days", "school", "youth_sport")
        self._context = single(ctx) | self._near
        self._context_phrases = phrases(ctx) + self._near_phrases
        self._relation = single(("relation", "possessive"))
        self._lexical = {t for t in lexical if " " not in t}
        assert set(CATEGORIES) >= set(lex.terms)

    # per-row -------------------------------------------------------------------------------
    def _has_phrase(self, toks: list[str], lo: int, hi: int, phrases: list[list[str]]) -> bool:
        seg = toks[max(lo, 0) : hi]
        for ph in phrases:
            k = len(ph)
            for j in range(len(seg) - k + 1):
                if seg[j : j + k] == ph:
                    return True
        return False

    def _near_anchor(self, toks: list[str], i: int, strict: bool) -> str | None:
        """The context word that makes toks[i] a child's name, if any."""
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if _ADULT_NUM.match(nxt):
            return None
        if strict:
            prev = toks[i - 1] if i >= 1 else ""
            if prev in self._relation:
                return prev
            if _CHILD_NUM.match(nxt):
                return f"age {nxt}"
            return None
        for j in range(i - WINDOW, i + WINDOW + 1):
            if j == i or j < 0 or j >= len(toks):
                continue
            t = toks[j]
            if t in self._context:
                return t
            if _CHILD_NUM.match(t) and abs(j - i) <= 2:
                # a number right next to a name is an age unless it is a date/size part
                other = toks[j + 1] if j + 1 < len(toks) else ""
                if not other.isdigit():
                    return f"age {t}"
        if self._has_phrase(toks, i - WINDOW - 1, i + WINDOW + 2, self._context_phrases):
            return "phrase"
        return None

    def _row(
        self, raw: str, text_norm: str, url_words: str, row_ctx: bool, cjk: bool
    ) -> tuple[list[str], str] | None:
        raw_tokens = _WORD.findall(raw)
        alpha = [t for t in raw_tokens if t[:1].isalpha()]
        caps = {fold(t) for t in alpha if t[0].isupper()}
        lower = len(caps - {fold(alpha[0])} if alpha else set()) == 0
        found: list[str] = []
        anchor = ""
        for seg, is_text in ((text_norm.split(), True), (url_words.split(), False)):
            for i, tok in enumerate(seg):
                if tok not in self._names:
                    continue
                strict = tok in self._strict or (tok in self._lexical)
                if is_text and not lower and tok not in caps:
                    continue
                a = self._near_anchor(seg, i, strict)
                if a is None and not strict and row_ctx and (not is_text or not lower):
                    nxt = seg[i + 1] if i + 1 < len(seg) else ""
                    a = "row context" if not _ADULT_NUM.match(nxt) else None
                if a is not None:
                    found.append(tok)
                    anchor = anchor or a
        if cjk:
            for rx in (JA_SUFFIX, JA_KIN, JA_SAN_AGE, JA_AGE):
                for m in rx.finditer(raw):
                    g = m.group(1)
                    if g in JA_NOT_NAME or g[-1] in "赤子":
                        continue
                    found.append(g)
                    anchor = anchor or "ja pattern"
        if not found:
            return None
        return found, anchor

    def score(self, batch: pa.Table) -> pa.Table:
        self.ensure_setup()
        s = signals.compute(batch)
        n = batch.num_rows
        minor = signals.minor_subject(s)
        age = signals.child_age(s)
        adult_only = (s["age_adult"] & ~s["age_child"]) | (
            s["neg_adult"] & ~s["age_child"] & ~s["child"]
        )
        ctx = (minor | age | s["relation"] | s["birthday"] | s["birth"]) & ~signals.negated(s)
        ctx = ctx & ~adult_only & ~(s["neg_product"] & ~s["child_model"] & ~age)
        # row-level context strong enough for a capitalised name anywhere in the row
        row_ctx = (
            (s["class_des"] | s["youth"] | s["event"] | s["birth"] | s["hospital"])
            | (minor & (s["school"] | s["host_school"] | age))
            | (age & s["birthday"])
        )
        idx = ctx.arg_true()
        scores = [0.0] * n
        ev_idx: list[int] = []
        ev: list[str | None] = []
        if len(idx):
            sub = pl.from_arrow(batch.select(["text", "text_norm", "url_words", "both_norm"]))
            assert isinstance(sub, pl.DataFrame)
            sub = sub[idx].with_columns(
                pl.col("both_norm").str.contains_any(self._patterns).alias("hit"),
                pl.col("text").fill_null("").str.contains(f"[{_HAN}]").alias("cjk"),
            )
            keep = (sub["hit"] | sub["cjk"]).arg_true()
            rows = sub[keep]
            where = idx.gather(keep).to_list()
            for i, (raw, tn, uw, cjk) in zip(
                where,
                rows.select(
                    pl.col("text").fill_null(""), "text_norm", "url_words", "cjk"
                ).iter_rows(),
                strict=True,
            ):
                got = self._row(raw, tn, uw, bool(row_ctx[i]), bool(cjk))
                if got is None:
                    continue
                names, anchor = got
                scores[i] = 1.0
                ev_idx.append(i)
                shown = " ".join(dict.fromkeys(initials(x) for x in names[:3]))
                ev.append(f"name:{shown} context:{anchor}")
        score = pl.Series(scores, dtype=pl.Float64)
        evidence = scatter_strings(n, pl.Series(ev_idx, dtype=pl.UInt32), ev)
        return result(self.name, n, score, evidence, "child name")

    @staticmethod
    def examples() -> list[Example]:
        return [
            Example("eu e meu filho Lucas (6) no primeiro jogo dele", lang="pt"),
            Example("Jess with her son Leo at the pumpkin patch", lang="en"),
            Example(
                "Decoração da festa",
                url="https://blog.example.com.br/2014/03/festa-5-anos-maria-clara.jpg",
                lang="pt",
            ),
            Example("ひよこ組のお絵かき。結菜ちゃん、蓮くん", lang="ja"),
            Example("La chanteuse et sa fille Rose, 6 ans, au défilé", lang="fr"),
            Example("Maria Fernanda, 35 anos, abriu uma confeitaria", fires=False, lang="pt"),
            Example("Vestido Infantil de Festa Rosa Tule Tam 4 anos", fires=False, lang="pt"),
            Example("Meet Baby, a 2-year-old beagle looking for a home", fires=False, lang="en"),
            Example("Sol e praia com as crianças", fires=False, lang="pt"),
        ]
