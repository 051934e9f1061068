"""Lexicons: per-language TOML data files merged into vectorised matchers.

Each `lexicons/<lang>.toml` lists words and phrases by category (see the header of
`lexicons/pt.toml` for the format). Adding a language means adding one file: every category is
merged over all languages, because captions often come without a reliable language tag and the
URL slug may be in another language than the caption.

Matching is on the normalised columns of `textnorm.prepare`: a term is matched as a whole word
(`' term '` in a space-padded column) with one Aho-Corasick automaton per category; terms in
scripts written without spaces (CJK) are matched as plain substrings.
"""

from __future__ import annotations

import gzip
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import polars as pl

from childguard.detect.textnorm import normalize_series

LEXICON_DIR = Path(__file__).parent / "lexicons"
DATA_DIR = Path(__file__).parent / "data"

# Categories a lexicon file may hold, with what they mean (the header of pt.toml repeats it).
CATEGORIES: dict[str, str] = {
    "child": "nouns and phrases that make a minor the subject (criança, toddler, newborn)",
    "child_ambiguous": "minor words also said of adult women or pets (girls, meninas, baby)",
    "child_model": "a child wearing a product (modelo infantil, shown on model)",
    "relation": "kinship words for a child (filho, daughter, niece, grandson)",
    "possessive": "possessives/endearments put before a child's name (nossa, our little)",
    "event": "child events and milestones (batizado, first day of school, first steps)",
    "birthday": "birthday words (aniversário, birthday, cumpleaños, turns)",
    "school": "schools, daycares, kindergartens for minors",
    "class_word": "words in class or group designations (turma, class, grade, klasse)",
    "youth_sport": "youth age groups and kids' sections (sub, under, e jugend, turma infantil)",
    "hospital": "maternity wards and hospitals",
    "birth": "birth words (nasceu, born, geboren, welcome to the world)",
    "month": "month names",
    "age_years": "units after a number for years of age (anos, years old, yo)",
    "age_months": "units for months of age",
    "age_days": "units for days of age",
    "age_prefix": "words before an age number (age, aged, idade)",
    "neg_product": "product, size and warranty context (tamanho, talla, garantia)",
    "neg_pet": "animals (dog, gato, kitten)",
    "neg_doll": "dolls, toys, clipart and cartoons of children (a drawn child is no child)",
    "stock": "stock-photo sites and phrases (royalty free, banco de imagens): a model, never named",
    "neg_religious": "the infant Jesus and religious figurines",
    "neg_campaign": "children's days, campaigns, charities, sales",
    "neg_adult": "adult contexts: business, wedding, reunion, anniversary of a company",
    "adult_title": "titles, jobs and photo credits said right before an adult's name (Dr, Sgt, author, photo by)",
    "adult_person": "words for adults (woman, bride, mulher) that make `girls` adult",
    "not_names": "ordinary words that name lists contain but that are not names here",
    "names": "extra given names and nicknames common among children in this language",
    "pet_words": "child words people also call their pets (baby, bebê, малыш)",
    "first_day": "'first day' phrases: a child's first school day next to a school word",
    "stopwords": "function words and everyday words that are never names",
    "team_sport": "team sports and school-sport words (lacrosse, varsity, futsal): beside a "
    "school word or 'boys'/'girls', a school team",
    "not_alone": "terms of the categories above that alone do not make a row a candidate: "
    "common in another sense (turned, bro, Indonesian RS/BB, NATO, German ist); "
    "they still count beside other evidence",
}


class LexiconError(ValueError):
    """A lexicon file that cannot be read or has a malformed category."""
    pass


@dataclass
class Lexicon:
    """All languages merged: category -> normalised terms."""

    languages: list[str] = field(default_factory=list)
    terms: dict[str, list[str]] = field(default_factory=dict)

    def get(self, category: str) -> list[str]:
        """The terms of one category (empty when the lexicons do not define it)."""
        return self.terms.get(category, [])


_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _is_cjk(term: str) -> bool:
    return _CJK.search(term) is not None


def load_file(path: Path) -> dict[str, list[str]]:
    """One lexicon TOML file as category -> terms (LexiconError naming the file on bad input)."""
    stat = path.stat()
    parsed = _parse(str(path), stat.st_mtime_ns, stat.st_size)
    return {cat: list(values) for cat, values in parsed.items()}


@lru_cache(maxsize=64)
def _parse(path_str: str, mtime_ns: int, size: int) -> dict[str, tuple[str, ...]]:
    """`load_file`'s work, once per file version and process: the lexicon and the scorer's
    word languages read the same files (a TOML parse of them all is ~20 ms)."""
    path = Path(path_str)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise LexiconError(f"{path}: {e}") from None
    terms = data.get("terms", {})
    if not isinstance(terms, dict):
        raise LexiconError(f"{path}: [terms] must be a table of lists")
    out: dict[str, tuple[str, ...]] = {}
    for cat, values in terms.items():
        if cat not in CATEGORIES:
            raise LexiconError(
                f"{path}: unknown category {cat!r}; known: {', '.join(sorted(CATEGORIES))}"
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise LexiconError(f"{path}: [terms].{cat} must be a list of strings")
        out[cat] = tuple(values)  # every caller gets this one object: read-only
    return out


def load_lexicon(directory: str | None = None) -> Lexicon:
    """Merge every `<lang>.toml` in the lexicon directory (the packaged one by default)."""
    # one cache key whether called as load_lexicon(), load_lexicon(None) or with the path
    return _load_lexicon(str(Path(directory) if directory else LEXICON_DIR))


@lru_cache(maxsize=4)
def _load_lexicon(directory: str) -> Lexicon:
    d = Path(directory)
    files = sorted(d.glob("*.toml"))
    if not files:
        raise LexiconError(f"no lexicon files in {d}")
    raw: dict[str, list[str]] = {}
    langs = []
    for f in files:
        langs.append(f.stem)
        for cat, values in load_file(f).items():
            raw.setdefault(cat, []).extend(values)
    # one normalisation pass over every term of every category (a pass costs ~2 ms)
    cats = list(raw)
    flat = [t for cat in cats for t in raw[cat]]
    normed = normalize_series(pl.Series(flat, dtype=pl.String)).str.strip_chars(" ").to_list()
    terms: dict[str, list[str]] = {}
    at = 0
    for cat in cats:
        k = len(raw[cat])
        terms[cat] = sorted({t for t in normed[at : at + k] if t})
        at += k
    return Lexicon(languages=langs, terms=terms)


def word_patterns(terms: list[str]) -> list[str]:
    """Automaton patterns: `' term '` for spaced scripts, the bare term for CJK."""
    return [t if _is_cjk(t) else f" {t} " for t in terms]


def alternation(terms: list[str]) -> str:
    """Regex alternation of normalised terms, longest first (terms are escaped)."""
    return "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))


# name lists ----------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def load_name_list(kind: str = "given") -> dict[str, float]:
    """Packaged name list -> {normalised name: child weight 0..1} (see tools/build_name_lists.py).

    The weight is the share of bearers born since 2000 where the source knows it (IBGE), and
    0.5 elsewhere; it is informative only, matching never depends on it alone.
    """
    path = DATA_DIR / f"{kind}_names.tsv.gz"
    try:
        blob = resources.files("childguard.detect").joinpath(f"data/{path.name}").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        blob = path.read_bytes()
    out: dict[str, float] = {}
    for line in gzip.decompress(blob).decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, weight = line.partition("\t")
        out[name] = float(weight or 0.5)
    return out


# categories whose words say "a child is meant" in one language; a caption in another language
# that holds only such words of other languages uses them as ordinary words or names ("chico",
# "nene" in English, Turkish "ay" in a URL fragment)
CHILD_CATEGORIES = (
    "child", "child_ambiguous", "relation", "school", "event", "birthday", "birth",
    "youth_sport", "age_years", "age_months", "pet_words",
)  # fmt: skip


@lru_cache(maxsize=4)
def word_languages(directory: str | None = None) -> pl.DataFrame:
    """(w, lang, kind) for the one-word terms of each language file: kind `stop` for its
    stopwords (they tell a caption's language), `child` for its CHILD_CATEGORIES words."""
    d = Path(directory) if directory else LEXICON_DIR
    ws, langs, kinds = [], [], []
    for f in sorted(d.glob("*.toml")):
        terms = load_file(f)
        for kind, cats in (("stop", ("stopwords",)), ("child", CHILD_CATEGORIES)):
            for c in cats:
                for t in terms.get(c, []):
                    ws.append(t)
                    langs.append(f.stem)
                    kinds.append(kind)
    w = normalize_series(pl.Series(ws, dtype=pl.String)).str.strip_chars(" ")
    return (
        pl.DataFrame({"w": w, "lang": langs, "kind": kinds})
        .filter((pl.col("w") != "") & ~pl.col("w").str.contains(" "))
        .unique()
        .sort("w", "lang", "kind")
    )
