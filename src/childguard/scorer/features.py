"""Features of a screened row for the trained scorer.

Three kinds, all strings ("feature tokens"), so one linear model can weigh them together:
- `t:`/`u:` caption and URL-slug words and word pairs, after **placeholders**: given names,
  capitalised words that are no lexicon or common word, handles, numbers and ids become
  `<name>`, `<cap>`, `<handle>`, `<age>`/`<year>`/`<num>`, `<id>`. No name can be a feature, so a
  model cannot learn (or leak) the children in its training rows.
- `s:` the shared signals that fired (child words, kinship, ages, schools, pet words, ...).
- `d:` the caption detectors that fired, with their labels, and `d:names@<kind>`: what made a
  word a child's name (the class of its kinship/child/event word, `age`, `row`, `group`, ...).

A model holds the tokens it kept (seen in enough distinct training captions; placeholders, never
names) and one weight per token, so unknown tokens weigh nothing. Everything is vectorised over
the screened rows (long (row, token) frames, joins and group-bys); only CJK runs, rare in web
captions, are split into character pairs in Python. Each distinct word of a batch is folded,
placeholdered and looked up once; class grams, conjunctions, counts and languages run on small
integer codes, with each distinct token's string built once (tests/scorer keeps the previous,
all-string implementation and checks that both give the same tokens).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect._util import take_rows
from childguard.detect.lexicon import load_lexicon, word_languages
from childguard.detect.names import load_word_set
from childguard.detect.textnorm import fold_series

FEATURE_VERSION = "9"  # 6: `d:names@<anchor kind>`; 7: `s:parent_of`; 8: `s:false_friend`, `s:team_sport`; 9: `s:host_*` (kind of image host)
# models of these versions score the same under today's features: each later version only
# added tokens, which an earlier model holds no weight for
READABLE_FEATURE_VERSIONS = frozenset({"5", "6", "7", "8", "9"})

# signal columns (detect/signals.py) used as features; child_word is text, candidate derived
SIGNAL_FEATURES = (
    "ctx", "host_school", "child", "child_ambiguous", "child_model", "relation", "event",
    "birthday", "school", "youth_sport", "hospital", "birth", "first_day", "neg_product",
    "neg_pet", "neg_doll", "neg_religious", "neg_campaign", "neg_adult", "adult_person",
    "age_child", "class_des", "youth", "at", "paren_age", "adult_paren", "shirt_number", "pet_emoji",
    "age_adult", "date", "time", "weight", "length", "class_word", "class_num", "possessive",
    "child_human", "pet_words", "stock", "team_sport",
    "host_pin", "host_shop", "host_blog", "host_news", "host_photo",
)  # fmt: skip
DETECTOR_FEATURES = (
    "ages", "birth_details", "child_terms", "dates", "handles", "institutions", "names", "places",
)  # fmt: skip


@lru_cache(maxsize=1)
def vocab() -> tuple[frozenset[str], frozenset[str]]:
    """(words kept as themselves, given names that become `<name>`)."""
    lex = load_lexicon()
    keep = {t for c, ts in lex.terms.items() if c not in ("names", "not_names") for t in ts}
    keep = {w for t in keep for w in t.split()}
    keep |= load_word_set("common_words")
    names = set(load_word_set("given_names")) | set(lex.get("names")) | set(lex.get("not_names"))
    # a kinship or child word that some list also has as a name stays a word ("son", "baby")
    child_words = {
        w
        for c in ("child", "child_ambiguous", "relation", "possessive", "event", "school",
                  "birthday", "birth", "age_years", "age_months", "age_days", "age_prefix",
                  "stopwords", "pet_words", "neg_pet", "month")
        for t in lex.get(c)
        for w in t.split()
    }  # fmt: skip
    names = {n for n in names if n not in child_words and len(n) > 1}
    return frozenset(keep - names), frozenset(names)


# word classes for class n-grams, first class wins: "her son Karter" and "seu filho Pedro" both
# read `poss rel <name>`, so what the model learns in one language carries to the others
WORD_CLASSES = (
    "child", "relation", "possessive", "school", "class_word", "youth_sport", "hospital",
    "birthday", "birth", "first_day", "event", "age_years", "age_months", "age_days",
    "age_prefix", "child_ambiguous", "pet_words", "neg_pet", "neg_doll", "neg_religious",
    "neg_product", "neg_campaign", "adult_person", "neg_adult", "month", "stock", "team_sport",
)  # fmt: skip


@lru_cache(maxsize=1)
def word_classes() -> pl.DataFrame:
    """(w, cls): the lexicon's one-word terms by class (words of multi-word terms, "de" of
    "dia de vida", and two-letter terms outside kinship and possessives, "an", stay plain)."""
    out = {
        w: c
        for w, c in _first_classes().items()
        if " " not in w and not w.isdigit() and not (len(w) <= 2 and c not in ("relation", "possessive"))
    }
    return pl.DataFrame(
        {"w": list(out), "cls": list(out.values())}, schema={"w": pl.String, "cls": pl.String}
    )


@lru_cache(maxsize=1)
def _first_classes() -> dict[str, str]:
    """Every lexicon term of WORD_CLASSES with its first class."""
    lex = load_lexicon()
    out: dict[str, str] = {}
    for c in WORD_CLASSES:
        for t in lex.get(c):
            out.setdefault(t, c)
    return out


@lru_cache(maxsize=1)
def _phrase_classes() -> dict[str, str]:
    """The lexicon's multi-word terms by class, first class wins (as `word_classes`)."""
    return {t: c for t, c in _first_classes().items() if " " in t}


@lru_cache(maxsize=1)
def _vocab_series() -> tuple[pl.Series, pl.Series]:
    """`vocab()` as Polars series, for vectorised membership tests."""
    keep, names = vocab()
    return pl.Series(sorted(keep), dtype=pl.String), pl.Series(sorted(names), dtype=pl.String)


_CJK_RE = "[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"
_WORD_RE = r"@[\w.]{2,}|[^\W\d_]+|[0-9]+"
_WORD_ASCII = r"(?-u)@[A-Za-z0-9_.]{2,}|[A-Za-z]+|[0-9]+"
_WORD_NO_AT = r"[^\W\d_]+|[0-9]+"  # _WORD_RE on text without "@"


def _numbers(tok: pl.Expr) -> pl.Expr:
    v = tok.str.slice(0, 5).cast(pl.Int64, strict=False)
    return (
        pl.when(tok.str.len_chars() > 4)
        .then(pl.lit("<id>"))
        .when(v < 18)
        .then(pl.lit("<age>"))
        .when((v >= 1900) & (v <= 2035))
        .then(pl.lit("<year>"))
        .otherwise(pl.lit("<num>"))
    )


def _cjk_pairs(words: pl.DataFrame) -> pl.DataFrame:
    """CJK runs become character pairs (per-row Python on the few CJK tokens)."""
    rows, pos, out = [], [], []
    for r, p, w in words.select("row", "pos", "raw").iter_rows():
        pairs = [w[i : i + 2] for i in range(max(1, len(w) - 1))]
        for k, t in enumerate(pairs):
            rows.append(r)
            pos.append(p * 1000 + k)
            out.append(t)
    return pl.DataFrame(
        {"row": rows, "pos": pos, "tok": out},
        schema={"row": pl.UInt32, "pos": pl.Int64, "tok": pl.String},
    )


def _token_frame(col: pl.Series, rows: pl.Series, kind: str) -> pl.DataFrame:
    """Long frame (row, pos, w, tok, cls) of placeholdered tokens of a caption (`kind="t"`,
    raw text) or URL-slug (`kind="u"`, textnorm's folded `url_words`) column, with each
    word's lexicon class (`word_classes`, null for none), sorted by (row, pos)."""
    pos, entries = _token_entries(col, rows, kind)
    return pos.select("row", "pos").hstack(entries.gather(pos["e"]).select(_ENTRY_COLUMNS))


_ENTRY_COLUMNS = ("w", "tok", "cls", "lx", "wid", "sym")


def _token_entries(col: pl.Series, rows: pl.Series, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`_token_frame` as positions (row, pos, e), sorted by (row, pos), and the entries
    (w, tok, cls, lx, wid, sym) that `e` indexes: one per distinct word of the column (a word
    may have two), then one per CJK character pair. Later steps work on entries (a few hundred
    to a few thousand a batch) and gather by `e`, rather than on a string per position."""
    fast, known, rest = _compiled_words(col, rows, kind)
    df = pl.DataFrame({"row": rows, "s": col})
    if rest is not None:
        df = df.filter(pl.Series(rest))
    words = _regex_words(df, kind)
    if words.height:
        # a batch repeats its words: fold and placeholder each distinct word once, then join
        # back only its entry number (the compiled split numbered its words already)
        raw = words["raw"].unique()
        e0 = known.height
        number = pl.int_range(e0, e0 + len(raw), dtype=pl.Int64, eager=True)
        pos = words.join(
            pl.DataFrame({"raw": raw, "e": number}), on="raw", how="inner", maintain_order="left"
        ).select("row", "pos", "e")
        if fast.height:
            # two runs sorted by (row, pos), merged by row (a stable sort of two runs: linear)
            both = pl.concat([fast, pos])
            pos = both[np.argsort(both["row"].to_numpy(), kind="stable")]
        uniq = pl.concat([known, _word_table(raw, kind)])
    else:
        pos, uniq = fast, known
    keep = (~uniq["cjk"] & (uniq["w"] != "")).to_numpy()
    e = pos["e"].to_numpy()
    cjk_pos = pos.filter(pl.Series(uniq["cjk"].to_numpy()[e]))
    pos = pos.filter(pl.Series(keep[e]))
    entries = uniq.select(_ENTRY_COLUMNS)
    if cjk_pos.height:
        cjk = cjk_pos.with_columns(raw=uniq["raw"].gather(cjk_pos["e"]))
        cj = _cjk_pairs(cjk).with_columns(w=pl.col("tok"))
        cj = pl.concat([cj, _look_up(cj["w"]).drop("is_name", "is_keep")], how="horizontal")
        cj = cj.with_columns(
            sym=_class_symbol().cast(pl.Enum(_SYMBOLS), strict=False),
            e=pl.int_range(entries.height, entries.height + cj.height, dtype=pl.Int64),
        )
        entries = pl.concat([entries, cj.select(_ENTRY_COLUMNS)])
        pos = pl.concat([pos, cj.select("row", "pos", "e")]).sort("row", "pos")
    return pos, entries


def _regex_words(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """(row, pos, raw) of the words of (row, s) rows by the Polars path (regexes, splits)."""
    if not df.height:
        return pl.DataFrame(schema={"row": df.schema["row"], "pos": pl.Int64, "raw": pl.String})
    if kind == "t":
        # ASCII captions (most web rows) take an ASCII-class regex, several times faster
        text = pl.col("s").fill_null("")
        ascii_ = text.str.len_bytes() == text.str.len_chars()
        # the Unicode regex is slow; without an "@" its handle branch cannot match, and the
        # regex without it (a third faster) finds the same words
        at = text.str.contains("@", literal=True)
        words = pl.concat(
            [
                df.filter(ascii_).select("row", raw=text.str.extract_all(_WORD_ASCII)),
                df.filter(~ascii_ & at).select("row", raw=text.str.extract_all(_WORD_RE)),
                df.filter(~ascii_ & ~at).select("row", raw=text.str.extract_all(_WORD_NO_AT)),
            ]
        ).sort("row")
    else:
        # most rows have no slug words: only the others are split
        slug = pl.col("s").fill_null("").str.strip_chars()
        words = df.filter(slug != "").select("row", raw=slug.str.split(" "))
    words = (
        words.with_columns(pos=pl.int_ranges(0, pl.col("raw").list.len(), dtype=pl.Int64) * 1000)
        .explode("raw", "pos")
        .filter(pl.col("raw").is_not_null() & (pl.col("raw") != ""))
    )
    return words


def _compiled_words(
    col: pl.Series, rows: pl.Series, kind: str
) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray | None]:
    """The compiled split (`_words_jit`) of the rows it takes: their positions (row, pos, e),
    the `_word_table` rows of their words (numbered e; each word's row made once per process:
    `_WordCache`), and a flag per row of those left to the Polars path (None: every row, when
    the compiled pass is off: `textnorm.backend`)."""
    from childguard.detect import textnorm

    none = pl.DataFrame(schema={"row": pl.UInt32, "pos": pl.Int64, "e": pl.Int64})
    if textnorm.backend() != "numba":
        return none, _word_table(pl.Series([], dtype=pl.String), kind), None
    from childguard.detect import _textnorm_jit
    from childguard.scorer import _words_jit

    # a null caption or slug has no words, as an empty one (and no null flags to convert)
    arr = col.cast(pl.String).fill_null("").to_arrow().cast(pa.large_string())
    off, data, null = _textnorm_jit._buffers(arr)
    cache = _word_cache(kind)
    mode = _words_jit.CAPTION if kind == "t" else _words_jit.SLUG
    r, p, e, glob, rest = _words_jit.split(off, data, null, mode, cache.interner)
    fast = pl.DataFrame(
        {"row": rows.gather(pl.Series(r, dtype=pl.UInt32)), "pos": p, "e": e},
        schema={"row": pl.UInt32, "pos": pl.Int64, "e": pl.Int64},
    )
    return fast, cache.rows(glob), rest.astype(bool)


class _WordCache:
    """A process's interned words of one kind (`_words_jit.Interner`) and their
    `_word_table` rows (a word's row depends on the word alone)."""

    def __init__(self, kind: str) -> None:
        """No words yet."""
        from childguard.scorer import _words_jit

        self.kind = kind
        self.interner = _words_jit.Interner()
        self.table = _word_table(pl.Series([], dtype=pl.String), kind)

    def rows(self, glob: np.ndarray) -> pl.DataFrame:
        """The table rows of interned words `glob` (rows made first for words new since)."""
        have, nw = self.table.height, self.interner.nw
        if nw > have:
            from childguard.detect import _textnorm_jit

            off, data = self.interner.strings(have, nw)
            new = pl.from_arrow(_textnorm_jit._array(off, data))
            assert isinstance(new, pl.Series)
            self.table = pl.concat([self.table, _word_table(new.cast(pl.String), self.kind)])
            if self.table.n_chunks() > 32:
                self.table = self.table.rechunk()
        return self.table.gather(pl.Series(glob, dtype=pl.UInt32))


_WORD_CACHES: dict[str, _WordCache] = {}


def _word_cache(kind: str) -> _WordCache:
    """The process's `_WordCache` of a kind, started again past `Interner.MAX_WORDS` words."""
    from childguard.scorer import _words_jit

    c = _WORD_CACHES.get(kind)
    if c is None or c.interner.nw > _words_jit.Interner.MAX_WORDS:
        c = _WORD_CACHES[kind] = _WordCache(kind)
    return c


def _word_table(raw: pl.Series, kind: str) -> pl.DataFrame:
    """(raw, cjk, w, tok, cls) of distinct raw words: CJK runs flagged (split into pairs by
    the caller), others folded (captions) and placeholdered, with their lexicon class."""
    df = pl.DataFrame({"raw": raw}).with_columns(cjk=pl.col("raw").str.contains(_CJK_RE))
    if kind == "t":  # the scan's own fold (lower-case, accents folded; ASCII fast path)
        # marks alone (an emoji's variation selector) fold to "" and are no word
        df = df.with_columns(w=fold_series(df["raw"]).str.strip_chars())
    else:  # url_words are folded already
        df = df.with_columns(w=pl.col("raw"))
    df = pl.concat([df, _look_up(df["w"])], how="horizontal")
    raw = pl.col("raw")
    is_digit = raw.str.contains(r"^[0-9]+$")
    if kind == "t":
        first = raw.str.slice(0, 1)
        tok = (
            pl.when(raw.str.starts_with("@"))
            .then(pl.lit("<handle>"))
            .when(is_digit)
            .then(_numbers(raw))
            .when(pl.col("is_name"))
            .then(pl.lit("<name>"))
            .when((first != first.str.to_lowercase()) & ~pl.col("is_keep"))
            .then(pl.lit("<cap>"))
            .otherwise(pl.col("w"))
        )
    else:
        tok = (
            pl.when(is_digit)
            .then(_numbers(raw))
            .when(
                raw.str.contains(r"^[0-9a-f]{5,}$") & raw.str.contains("[0-9]")
                | ((raw.str.len_chars() > 12) & ~pl.col("is_keep"))  # w is raw here
            )
            .then(pl.lit("<id>"))
            .when(pl.col("is_name"))
            .then(pl.lit("<name>"))
            .otherwise(raw)
        )
    return (
        df.with_columns(tok=tok)
        .with_columns(sym=_class_symbol().cast(pl.Enum(_SYMBOLS), strict=False))
        .drop("is_name", "is_keep")
    )


def _look_up(w: pl.Series) -> pl.DataFrame:
    """Per word: is_name, is_keep, lx (a word of `word_languages`), cls (its class) and wid
    (its row in `_word_lookup`, null for words in none of them). A binary search of the sorted
    table: a join or `is_in` would hash all its words on every call."""
    lookup = _word_lookup()
    pos = lookup["w"].search_sorted(w).clip(0, lookup.height - 1)
    found = lookup.gather(pos)
    hit = found["w"] == w
    return found.with_columns(wid=pos).select(
        is_name=pl.col("is_name") & hit,
        is_keep=pl.col("is_keep") & hit,
        lx=pl.col("lx") & hit,
        cls=pl.when(hit).then(pl.col("cls")),
        wid=pl.when(hit).then(pl.col("wid")),
    )


@lru_cache(maxsize=1)
def _language_ids() -> tuple[pl.Series, pl.DataFrame, pl.DataFrame]:
    """(languages, sorted; stopwords and child words as (wid, lang) integer pairs, lang the
    language's position, so joins and sorts run on integers in the same order)."""
    wl = word_languages()
    langs = wl["lang"].unique().sort()
    ids = wl.select(
        wid=_look_up(wl["w"])["wid"].cast(pl.UInt32),
        lang=langs.search_sorted(wl["lang"]).cast(pl.UInt32),
        kind="kind",
    )
    stop = ids.filter(pl.col("kind") == "stop").select("wid", "lang")
    child = ids.filter(pl.col("kind") == "child").select("wid", "lang")
    return langs, stop, child


@lru_cache(maxsize=1)
def _word_lookup() -> pl.DataFrame:
    """(w, is_name, is_keep, lx, cls) for every word that is a given name, a kept word
    (`vocab`), a word of `word_languages` or of a class (`word_classes`); others are in none.
    Built once per machine (~0.1 s) and kept in the table cache, keyed by this file too."""
    from childguard.detect._table_cache import cached_frame

    return cached_frame("word_lookup", _build_word_lookup, (Path(__file__),))


def _build_word_lookup() -> pl.DataFrame:
    """`_word_lookup` built from the lexicon, the word lists and the code above."""
    keep, names = _vocab_series()
    classes = word_classes()
    lang = _language_words()
    # sorted: `_word_table` looks words up by binary search
    words = pl.concat([keep, names, classes["w"], lang.explode()]).unique().sort()
    return (
        pl.DataFrame({"w": words})
        .with_columns(
            is_name=pl.col("w").is_in(names.implode()),
            is_keep=pl.col("w").is_in(keep.implode()),
            lx=pl.col("w").is_in(lang),
        )
        .join(classes, on="w", how="left", maintain_order="left")
    )


@lru_cache(maxsize=1)
def _language_words() -> pl.Series:
    """Every word of `word_languages` (stopwords and child words), as one imploded column:
    only rows of these words can join it."""
    return word_languages()["w"].unique().sort().implode()


def _url_vocabulary(entries: pl.DataFrame) -> pl.DataFrame:
    """URL-slug tokens other than lexicon words, names, ages and handles become `_`: the rest
    of a URL (upload years, CDN ids, size suffixes, file-name parts) says where a row was
    scraped, which a model would learn as a stand-in for the label. Applied to a token
    frame's entries (`_token_entries`); class-gram symbols follow the new tokens."""
    return entries.with_columns(
        tok=pl.when(pl.col("tok").is_in(_url_allowed()))
        .then(pl.col("tok"))
        .otherwise(pl.lit("_"))
    ).with_columns(sym=_class_symbol().cast(pl.Enum(_SYMBOLS), strict=False))


@lru_cache(maxsize=1)
def _url_allowed() -> pl.Series:
    """The URL-slug tokens `_url_vocabulary` keeps, as one imploded column (sorted and built
    once per process: ~0.5 ms a batch)."""
    allowed = sorted(_evidence_words() | {"<name>", "<age>", "<handle>"})
    return pl.Series(allowed, dtype=pl.String).implode()


_PLACEHOLDERS = ("<age>", "<cap>", "<handle>", "<id>", "<name>", "<num>", "<year>")
# a class gram's symbols: "_" (a plain word) first, code 0
_SYMBOLS = ("_", *WORD_CLASSES, *_PLACEHOLDERS)


def _class_symbol() -> pl.Expr:
    """A token's class-gram symbol: placeholders as themselves, lexicon words as their class,
    other words `_`."""
    return (
        pl.when(pl.col("tok").str.starts_with("<"))
        .then(pl.col("tok"))
        .otherwise(pl.col("cls").fill_null("_"))
    )


def _class_grams(tf: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """Class unigrams, bigrams and trigrams of a token frame (sorted by (row, pos), with each
    word's class): lexicon words as their class, placeholders as themselves, other words as
    `_` (runs of plain words alone make no gram)."""
    codes = tf.select(c=_class_symbol().cast(pl.Enum(_SYMBOLS), strict=False))["c"]
    if codes.null_count():  # a symbol outside _SYMBOLS: the string path
        return _class_grams_strings(tf, prefix)
    c = codes.to_physical().to_numpy().astype(np.int64)
    parts = _class_gram_codes(tf["row"].to_numpy(), c, prefix)
    return pl.concat([p.strings() for p in parts])


def _class_gram_codes(row: np.ndarray, c: np.ndarray, prefix: str) -> list[_Coded]:
    """`_class_grams` of positions (row, symbol code in _SYMBOLS), sorted by (row, pos).
    Grams are base-len(_SYMBOLS) integers, and each distinct gram's string is built once."""
    k = len(_SYMBOLS)
    n1 = np.zeros_like(c)
    n2 = np.zeros_like(c)
    n1[:-1], n2[:-2] = c[1:], c[2:]
    same1 = np.zeros(len(c), dtype=bool)
    same2 = np.zeros(len(c), dtype=bool)
    same1[:-1] = row[1:] == row[:-1]
    same2[:-2] = row[2:] == row[:-2]
    word = c != 0
    uni = word
    bi = same1 & (word | (n1 != 0))
    tri = same2 & (word.astype(np.int8) + (n1 != 0) + (n2 != 0) >= 2)
    return [
        _grams(row[uni], c[uni], 1, prefix),
        _grams(row[bi], c[bi] * k + n1[bi], 2, prefix),
        _grams(row[tri], (c[tri] * k + n1[tri]) * k + n2[tri], 3, prefix),
    ]


def _grams(row: np.ndarray, key: np.ndarray, size: int, prefix: str) -> _Coded:
    """Class grams of `size` symbols coded as base-len(_SYMBOLS) integers, per row."""
    k = len(_SYMBOLS)
    seen = np.zeros(k**size, dtype=bool)
    seen[key] = True
    distinct = np.flatnonzero(seen)
    index = np.zeros(k**size, dtype=np.int64)
    index[distinct] = np.arange(len(distinct))
    names = [_gram_name(prefix, size, g) for g in distinct.tolist()]
    return _Coded(row, index[key], pl.Series(names, dtype=pl.String))


@lru_cache(maxsize=1 << 16)
def _gram_name(prefix: str, size: int, key: int) -> str:
    """The token of a class gram coded as a base-len(_SYMBOLS) integer."""
    parts = []
    for _ in range(size):
        key, r = divmod(key, len(_SYMBOLS))
        parts.append(_SYMBOLS[r])
    return prefix + "_".join(reversed(parts))


def _class_grams_strings(tf: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """`_class_grams` built as strings per row (for symbols outside _SYMBOLS)."""
    seq = tf.select("row", c=_class_symbol())
    same1 = pl.col("row").shift(-1) == pl.col("row")
    same2 = pl.col("row").shift(-2) == pl.col("row")
    g = seq.with_columns(
        n1=pl.when(same1).then(pl.col("c").shift(-1)),
        n2=pl.when(same2).then(pl.col("c").shift(-2)),
    )
    plain = pl.col("c") == "_"
    bi = g.filter(pl.col("n1").is_not_null() & ~(plain & (pl.col("n1") == "_"))).select(
        "row", token=prefix + pl.col("c") + "_" + pl.col("n1")
    )
    tri = g.filter(
        pl.col("n2").is_not_null()
        & (
            (~plain).cast(pl.Int8)
            + (pl.col("n1") != "_").cast(pl.Int8)
            + (pl.col("n2") != "_").cast(pl.Int8)
            >= 2
        )
    ).select("row", token=prefix + pl.col("c") + "_" + pl.col("n1") + "_" + pl.col("n2"))
    uni = seq.filter(~plain).select("row", token=prefix + pl.col("c"))
    return pl.concat([uni, bi, tri])


class _Coded:
    """A part of a feature frame as integer codes: (row, code) pairs and the token string
    of each code (`names`, possibly repeated), so that a vocabulary is looked up once per
    distinct token, and strings are built only when a caller asks for them."""

    __slots__ = ("code", "names", "row")

    def __init__(self, row: np.ndarray, code: np.ndarray, names: pl.Series) -> None:
        """Pairs (row[i], names[code[i]])."""
        self.row = np.asarray(row)
        self.code = np.asarray(code, dtype=np.int64)
        self.names = names.cast(pl.String)

    def strings(self) -> pl.DataFrame:
        """The pairs as a (row: UInt32, token: String) frame."""
        return pl.DataFrame(
            {
                "row": pl.Series(self.row, dtype=pl.UInt32),
                "token": self.names.gather(pl.Series(self.code, dtype=pl.UInt32)),
            }
        )


_Part = pl.DataFrame | _Coded  # a (row, token) frame, or the same as codes


def feature_frame(table, sig: pl.DataFrame, rows, vocab: pl.Series | None = None) -> pl.DataFrame:
    """Every feature token of the given rows of a scored batch, as a long frame
    (row: position in `rows`, token), one row per distinct (row, token). Vectorised: this
    runs on every screened row of a scan.

    table: the prepared batch (pyarrow) with every caption detector's columns;
    sig: that batch's shared signals (`signals.compute`); rows: row positions; vocab: keep only
    these tokens (a model's)."""
    if vocab is not None:
        r, v = feature_ids(table, sig, rows, vocab)
        return pl.DataFrame(
            {"row": pl.Series(r, dtype=pl.UInt32), "token": vocab.gather(pl.Series(v, dtype=pl.UInt32))}
        )
    grams, parts = _feature_parts(table, sig, rows)
    # n-grams repeat within a row; every other part holds a (row, token) at most once
    g = pl.concat([_row_token(p) for p in grams]).unique()
    # order is irrelevant downstream (sums of float32 weights, exact in float64; explanations
    # sort by weight, then token)
    return pl.concat([g, *(_row_token(p) for p in parts)])


def feature_ids(table, sig: pl.DataFrame, rows, vocab: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`feature_frame(table, sig, rows, vocab)` as integers: (row, position in `vocab`) arrays,
    each distinct pair once. Tokens are looked up in the vocabulary once per distinct token of
    a part, and n-grams de-duplicated as integers (row, position)."""
    index = _vocab_index(vocab)
    grams, parts = _feature_parts(table, sig, rows, url_words=index.url_words)
    # one vocabulary look-up for every part's distinct tokens (each cast costs ~1 ms)
    names = [p.names if isinstance(p, _Coded) else p["token"] for p in (*grams, *parts)]
    codes = index.codes(pl.concat(names))
    ends = np.cumsum([len(x) for x in names])
    v = len(vocab)
    out_r, out_v = [], []
    k = 0
    for group in (grams, parts):
        rs, vs = [], []
        for p in group:
            lut = codes[ends[k] - len(names[k]) : ends[k]]
            k += 1
            vid, r = (lut[p.code], p.row) if isinstance(p, _Coded) else (lut, p["row"].to_numpy())
            known = vid >= 0
            rs.append(r[known].astype(np.int64))
            vs.append(vid[known])
        r = np.concatenate(rs)
        vid = np.concatenate(vs)
        if group is grams:
            key = pl.Series(r * v + vid, dtype=pl.Int64).unique().to_numpy()
            r, vid = key // v, key % v
        out_r.append(r)
        out_v.append(vid)
    return np.concatenate(out_r), np.concatenate(out_v)


class _VocabIndex:
    """A vocabulary's positions for Polars string columns (its Enum built once)."""

    def __init__(self, vocab: pl.Series) -> None:
        """Index `vocab` (distinct tokens)."""
        self.vocab = vocab
        self.enum = pl.Enum(vocab)
        # models trained since URL-slug word grams are left out hold none: skip making them
        self.url_words = bool(vocab.str.starts_with("u:").any())

    def codes(self, tokens: pl.Series) -> np.ndarray:
        """Per token, its position in the vocabulary (-1 for none; int64)."""
        code = tokens.cast(pl.String).cast(self.enum, strict=False).to_physical()
        return code.cast(pl.Int64).fill_null(-1).to_numpy()


_VOCAB_INDEX: list[_VocabIndex] = []  # the last vocabulary indexed (one model per process)


def _vocab_index(vocab: pl.Series) -> _VocabIndex:
    """The `_VocabIndex` of `vocab`, kept while callers pass the same series (a model's)."""
    last = _VOCAB_INDEX[0].vocab if _VOCAB_INDEX else None
    if last is None or not (last is vocab or (len(last) == len(vocab) and last.equals(vocab))):
        _VOCAB_INDEX[:] = [_VocabIndex(vocab)]
    return _VOCAB_INDEX[0]


def _feature_parts(
    table, sig: pl.DataFrame, rows, url_words: bool = True
) -> tuple[list[_Part], list[_Part]]:
    """The parts of `feature_frame`: (n-grams, which repeat within a row; the others, which
    hold each (row, token) at most once). url_words: make the URL slug's word grams (`u:`;
    the slug's class grams `ku:` are always made)."""
    n = len(rows)
    idx = pl.Series("i", rows, dtype=pl.UInt32)
    rid = np.arange(n, dtype=np.uint32)
    sub = _take(table, ["text", "url_words", "text_norm"], idx)
    parts: list[_Part] = [_Coded(rid, np.zeros(n, np.int64), pl.Series(["bias"]))]
    s = (
        sig.select([c for c in SIGNAL_FEATURES if c in sig.columns])
        .gather(idx)
        .with_columns(pl.all().fill_null(False))
        .with_columns(parent_of=sub["text_norm"].fill_null("").str.contains(_parent_of()))
    )
    if s.width:
        # column-major like an unpivot: (row, column) of every signal that fired
        col, row = np.nonzero(s.to_numpy().T)
        parts.append(_Coded(row, col, pl.Series([f"s:{c}" for c in s.columns])))
    dets = [d for d in DETECTOR_FEATURES if f"{d}__score" in table.column_names]
    if dets:
        parts += _detector_tokens(table, dets, idx, rid)
    if "names__anchor" in table.column_names:
        parts.append(_anchor_tokens(table, idx, rid))
    cpos, cent = _token_entries(sub["text"], pl.Series("row", rid), "t")
    upos, uent = _token_entries(sub["url_words"], pl.Series("row", rid), "u")
    uent = _url_vocabulary(uent)
    grams: list[_Part] = []
    for prefix, pos, ent, kp in ((("t:", cpos, cent, "k:"), ("u:", upos, uent, "ku:"))):
        row = pos["row"].to_numpy()
        e = pos["e"].to_numpy().astype(np.int64)
        if prefix == "t:" or url_words:
            grams += _word_grams(row, e, ent["tok"], prefix)
        sym = ent["sym"]
        if sym.null_count():  # a symbol outside _SYMBOLS: the string path
            tf = pos.select("row").hstack(ent.gather(pos["e"]).select("tok", "cls"))
            grams.append(_class_grams_strings(tf, kp))
        else:
            c = sym.to_physical().to_numpy().astype(np.int64)[e]
            grams += _class_gram_codes(row, c, kp)
    crow = cpos["row"].to_numpy()
    urow = upos["row"].to_numpy()
    parts.append(_language_tokens(_lang_words(cpos, cent), _lang_words(upos, uent), n))
    # per-row counts by bincount: token frames hold rows 0..n-1
    n_tok = np.bincount(crow, minlength=n)
    is_name = cent["tok"].is_in(["<name>", "<cap>"]).to_numpy()[cpos["e"].to_numpy()]
    names = np.bincount(crow, weights=is_name, minlength=n).astype(np.int64)
    url_name = (uent["tok"] == "<name>").to_numpy()[upos["e"].to_numpy()]
    un = np.bincount(urow, weights=url_name, minlength=n).astype(np.int64)
    parts += [
        _pick_token(rid, "n:names=", np.minimum(names, 3)),
        _pick_token(rid, "n:urlnames=", np.minimum(un, 3)),
        _pick_token(rid, "n:len=", np.minimum(n_tok // 5, 8)),
    ]
    no_text = np.flatnonzero(n_tok == 0)
    parts.append(_Coded(no_text, np.zeros(len(no_text), np.int64), pl.Series(["n:no_text"])))
    parts.append(_conjunctions(s, rid, names, un))
    return grams, parts


def _word_grams(row: np.ndarray, e: np.ndarray, tok: pl.Series, prefix: str) -> list[_Coded]:
    """Word unigrams and bigrams (`t:a`, `t:a_b`) of positions (row, entry), sorted by
    (row, pos), whose entries have tokens `tok`: a bigram joins a token and the next one of
    the same row, and no unigram or bigram is of `_` alone. Pairs are coded as integers, and
    each distinct one's string built once."""
    names = tok.unique().sort()
    d = len(names)
    t = names.search_sorted(tok).to_numpy().astype(np.int64)[e]  # per position: its token
    plain = (names == "_").to_numpy()
    uni = ~plain[t]
    same = row[1:] == row[:-1]
    a, b = t[:-1][same], t[1:][same]
    keep = ~(plain[a] & plain[b])
    key = a[keep] * d + b[keep]
    distinct, inverse = np.unique(key, return_inverse=True)
    both = pl.DataFrame(
        {
            "a": names.gather(pl.Series(distinct // d, dtype=pl.UInt32)),
            "b": names.gather(pl.Series(distinct % d, dtype=pl.UInt32)),
        }
    ).select(pl.concat_str(pl.lit(prefix), "a", pl.lit("_"), "b"))
    return [
        _Coded(row[uni], t[uni], prefix + names),
        _Coded(row[:-1][same][keep], inverse.reshape(-1), both.to_series()),
    ]


def _lang_words(pos: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """(row, wid: UInt32) of a token frame's positions whose word is a language word (`lx`)."""
    lx = entries["lx"].fill_null(False).to_numpy()
    e = pos["e"].to_numpy()
    m = lx[e]
    wid = entries["wid"].fill_null(0).cast(pl.UInt32).to_numpy()
    return pl.DataFrame(
        {"row": pl.Series(pos["row"].to_numpy()[m], dtype=pl.UInt32), "wid": pl.Series(wid[e[m]], dtype=pl.UInt32)}
    )


_ROW_TOKEN = {"row": pl.UInt32, "token": pl.String}


def _row_token(part: _Part) -> pl.DataFrame:
    """A part's (row: UInt32, token: String) columns; cast only when they differ (each select
    is a Polars call, ~80 µs, and a frame has a dozen parts)."""
    if isinstance(part, _Coded):
        return part.strings()
    if part.columns == ["row", "token"] and dict(part.schema) == _ROW_TOKEN:
        return part
    return part.select(pl.col("row").cast(pl.UInt32), pl.col("token").cast(pl.String))


def _detector_tokens(table, dets: list[str], idx: pl.Series, rid: np.ndarray) -> list[_Part]:
    """`d:<det>`, `d:<det>:<label>` and `d:<det>>=<score to a tenth>` of every caption
    detector that scored a row above 0 (a missing label reads "None"). Fired rows are found
    in the score columns' buffers; labels and tenths are made for them alone, in one Polars
    call each for every detector together."""
    at = idx.to_numpy()
    out: list[_Part] = []
    rows_l, det_l, score_l, label_l = [], [], [], []
    for j, d in enumerate(dets):
        # through Polars: pyarrow's `to_numpy` imports pandas (0.15 s per process)
        col = pl.from_arrow(table.column(f"{d}__score"))
        assert isinstance(col, pl.Series)
        col = col.cast(pl.Float64)
        score = col.to_numpy()[at]
        # above 0 as Polars compares (NaN above every number), nulls read 0
        f = (score > 0) | np.isnan(score)
        if col.null_count():
            f &= ~col.is_null().to_numpy()[at]
        rows = rid[f]
        if not len(rows):
            continue
        out.append(_Coded(rows, np.zeros(len(rows), np.int64), pl.Series([f"d:{d}"])))
        if (c := f"{d}__label") in table.column_names:
            lab = pl.from_arrow(take_rows(table.column(c), at[f]))
            assert isinstance(lab, pl.Series)
        else:
            lab = pl.Series([None] * len(rows))
        rows_l.append(rows)
        det_l.append(np.full(len(rows), j, np.int64))
        score_l.append(score[f])
        label_l.append(lab.cast(pl.String))
    if not rows_l:
        return out
    rows, det = np.concatenate(rows_l), np.concatenate(det_l)
    names = pl.Series([f"d:{d}:" for d in dets], dtype=pl.String)
    labelled = pl.DataFrame(
        {"row": pl.Series(rows, dtype=pl.UInt32), "d": names.gather(det), "l": pl.concat(label_l)}
    )
    out.append(labelled.select("row", token=pl.concat_str("d", pl.col("l").fill_null("None"))))
    # the score to a tenth, rounded by Polars; tokens coded (detector, tenths)
    t = (pl.Series(np.concatenate(score_l)) * 10).round(0).cast(pl.Int64).to_numpy()
    k = int(t.max()) + 1
    steps = [f"d:{d}>={i // 10}.{i % 10}" for d in dets for i in range(k)]
    out.append(_Coded(rows, det * k + t, pl.Series(steps, dtype=pl.String)))
    return out


# the names detector's fixed anchors, by kind; other anchors are "age N", "<unit> <of>" or a
# lexicon word (kinship, child, event, possessive, ...), which stands for its class
_ANCHOR_KINDS = {
    "phrase": "phrase", "row context": "row", "names in a group": "group", "birthday": "bday",
    "age after name": "agename", "birthday of": "bdayof", "event": "event", "ja pattern": "ja",
}  # fmt: skip


def _anchor_tokens(table, idx: pl.Series, rid: np.ndarray) -> _Coded:
    """`d:names@<kind>` of the rows where the names detector found a name: a name beside
    "son" or "filho" (`relation`) says more than one in a row that only has a school word
    (`row`). +0.02-0.03 identifiable AP on the real rows over 5 CV seeds (docs/detection.md)."""
    a = _take(table, ["names__anchor"], idx).with_columns(row=pl.Series(rid)).drop_nulls()
    anchor = pl.col("names__anchor")
    phrase = _phrase_classes()
    kind = (
        pl.when(anchor.is_in(list(_ANCHOR_KINDS)))
        .then(anchor.replace_strict(_ANCHOR_KINDS, default=None))
        .when(anchor.str.starts_with("age "))
        .then(pl.lit("age"))
        .when(anchor.is_in(list(phrase)))  # a lexicon phrase: "my oldest" is kinship
        .then(anchor.replace_strict(phrase, default=None))
        .when(anchor.str.contains(" ", literal=True))
        .then(pl.lit("ageof"))
        .otherwise(pl.col("cls").fill_null("word"))
    )
    k = (
        a.join(word_classes(), left_on="names__anchor", right_on="w", how="left")
        .select("row", token=pl.concat_str(pl.lit("d:names@"), kind))
    )
    names = k["token"].unique().sort()
    codes = np.searchsorted(names.to_numpy(), k["token"].to_numpy())
    return _Coded(k["row"].to_numpy(), codes, names)


def _take(table, names: list[str], idx: pl.Series) -> pl.DataFrame:
    """Rows `idx` of some columns of a pyarrow table, as Polars (taken in Arrow first: only
    those rows' strings are converted)."""
    return pl.from_arrow(table.select(names).take(idx.to_arrow()))  # type: ignore[return-value]


def _language_tokens(ct: pl.DataFrame, ut: pl.DataFrame, n: int) -> pl.DataFrame:
    """`l:<lang>`: the caption's language by its lexicon stopwords (the language with most
    hits, at least 2 and no tie); `s:lexlang_other` / `s:urllang_other`: the caption / URL
    slug holds child words, none of them of the caption's language ("chico" in an English
    caption is a name, Turkish "ay" in a URL fragment no month of age). ct, ut: (row, wid) of
    the caption's and URL slug's language words (`_lang_words`); n: rows (0..n-1)."""
    langs, stop, child = _language_ids()
    k = len(langs)
    # words and languages as integer ids (`_language_ids`), hits counted per (row, language)
    # in numpy
    r, g = _row_lang(ct.join(stop, on="wid"))
    counts = np.bincount(r * k + g, minlength=n * k).reshape(n, k)
    top = counts.max(axis=1, initial=0)
    has = (top >= 2) & ((counts == top[:, None]).sum(axis=1) == 1)
    best = np.where(has, counts.argmax(axis=1) if n else 0, -1)
    rows = np.flatnonzero(has)
    names = pl.Series([f"l:{x}" for x in langs], dtype=pl.String)
    parts = [pl.DataFrame({"row": pl.Series(rows, dtype=pl.UInt32), "token": names.gather(best[rows])})]
    for token, tf in (("s:lexlang_other", ct), ("s:urllang_other", ut)):
        r, g = _row_lang(tf.join(child, on="wid"))
        b = best[r]
        hit = np.bincount(r[b >= 0], minlength=n) > 0
        same = np.bincount(r[(b >= 0) & (g == b)], minlength=n) > 0
        rows = np.flatnonzero(hit & ~same)
        parts.append(_rows_token(pl.Series(rows, dtype=pl.UInt32), token))
    parts.append(_rows_token(_false_friend_rows(ct, counts), "s:false_friend"))
    return pl.concat(parts)


@lru_cache(maxsize=1)
def _false_friends() -> tuple[pl.DataFrame, pl.DataFrame]:
    """((wid, lc, ls): a one-word child term of language lc that is a stopword of language ls
    and no child word there (English "son" is French and Spanish "his" / "are"); (wid) of
    every child word, each once)."""
    _, stop, child = _language_ids()
    ff = (
        child.rename({"lang": "lc"})
        .join(stop.rename({"lang": "ls"}), on="wid")
        .join(child.rename({"lang": "ls"}), on=["wid", "ls"], how="anti")
    )
    return ff, child.select("wid").unique()


def _false_friend_rows(ct: pl.DataFrame, counts: np.ndarray) -> pl.Series:
    """Rows whose every caption child word is a false friend read in the other language: at
    least 3 other stopwords of that language in the row, and more than of the word's own
    ("la cote de confiance ... de son activité" holds no son). `_language_tokens`' counts."""
    friends, child_wids = _false_friends()
    pairs = ct.unique()  # (row, wid): once per word and row
    ff = pairs.join(friends, on="wid")
    if ff.is_empty():
        return pl.Series([], dtype=pl.UInt32)
    kids = pairs.join(child_wids, on="wid")
    occ = ct.group_by("row", "wid").len()
    ff = ff.join(occ, on=["row", "wid"])
    r = ff["row"].to_numpy().astype(np.int64)
    other = counts[r, ff["ls"].to_numpy().astype(np.int64)] - ff["len"].to_numpy()
    own = counts[r, ff["lc"].to_numpy().astype(np.int64)]
    read = ff.filter(pl.Series((other >= 3) & (other > own))).select("row", "wid").unique()
    n_kids = kids.group_by("row").len()
    n_read = read.group_by("row").len()
    return (
        n_kids.join(n_read, on="row", suffix="_ff")
        .filter(pl.col("len") == pl.col("len_ff"))["row"]
        .cast(pl.UInt32)
        .sort()
    )


def _rows_token(rows: pl.Series, token: str) -> pl.DataFrame:
    """(row, token): one token for each of these rows (typed even when there are none)."""
    return pl.DataFrame({"row": rows}).with_columns(token=pl.lit(token, dtype=pl.String))


def _row_lang(hits: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A (row, lang) frame's columns as int64 arrays."""
    return hits["row"].to_numpy().astype(np.int64), hits["lang"].to_numpy().astype(np.int64)


# third-person possessives before a kinship or child word: "her sons", "seu filho", "ihrer
# Tochter". With a name in the caption the row names a parent, and through them the child
# ("T. W. with her sons"; 10 of the 11 such real labelled rows are identifiable)
_THIRD_PERSON = (
    "her", "his", "their", "seu", "sua", "seus", "suas", "su", "sus", "son", "sa", "ses",
    "leur", "leurs", "ihr", "ihre", "ihrem", "ihrer", "ihren", "sein", "seine", "seinem",
    "seiner", "seinen", "suo", "suoi", "sue", "zijn", "haar", "hun", "jego", "jej", "ich",
    "его", "ее", "их",
)  # fmt: skip


@lru_cache(maxsize=1)
def _parent_of() -> str:
    """Regex over `text_norm`: a third-person possessive, at most one word, then a one-word
    kinship or child term of any lexicon."""
    lex = load_lexicon()
    words = sorted({t for c in ("relation", "child") for t in lex.get(c) if " " not in t})
    return rf" (?:{'|'.join(_THIRD_PERSON)}) (?:[^ ]+ )?(?:{'|'.join(map(re.escape, words))}) "


# pairs of these make `x:a&b` tokens: a linear model cannot weigh "a name AND a child word"
# above the sum of its parts, and that conjunction is what separates a named child from news
CONJUNCT = {
    "s:child": "child", "s:child_human": "child", "s:relation": "rel", "s:age_child": "age",
    "s:paren_age": "age", "s:school": "school", "s:youth_sport": "sport", "s:birthday": "bday",
    "s:birth": "birth", "s:hospital": "birth", "s:neg_product": "neg", "s:neg_pet": "pet",
    "s:pet_words": "pet", "s:adult_person": "adult", "s:neg_adult": "adult", "s:age_adult": "adult",
    "s:date": "date", "s:possessive": "poss", "s:stock": "stock", "s:shirt_number": "adult",
    "s:parent_of": "parent", "s:team_sport": "team",
    "n:names=1": "name", "n:names=2": "name", "n:names=3": "name",
    "n:urlnames=1": "urlname", "n:urlnames=2": "urlname", "n:urlnames=3": "urlname",
}  # fmt: skip


def _pick_token(rid: np.ndarray, prefix: str, k: np.ndarray) -> _Coded:
    """(row, prefix + str(k)) for small non-negative integers k (strings built once each)."""
    top = int(k.max()) if len(k) else 0
    return _Coded(rid, k, pl.Series([f"{prefix}{i}" for i in range(top + 1)], dtype=pl.String))


def _conjunctions(s: pl.DataFrame, rid: np.ndarray, names: np.ndarray, un: np.ndarray) -> _Coded:
    """`x:a&b` for every pair of the row's CONJUNCT groups (a < b): `s` the rows' signal
    columns (null-free), `names` / `un` their caption / URL name counts. Each row's groups are
    a bit mask; pairs are listed once per distinct mask, then spread to its rows."""
    groups = sorted(set(CONJUNCT.values()))
    bit = {g: 1 << i for i, g in enumerate(groups)}
    mask = np.zeros(len(rid), dtype=np.int64)
    for tok, g in CONJUNCT.items():
        col = tok.removeprefix("s:")
        if tok.startswith("s:") and col in s.columns:
            mask |= np.where(s[col].to_numpy(), bit[g], 0)
    mask |= np.where(names >= 1, bit["name"], 0) | np.where(un >= 1, bit["urlname"], 0)
    # every row's pairs, in numpy: a row's pairs are its mask's (listed once per distinct mask)
    all_pairs = _pair_names(tuple(groups))
    masks, inv = np.unique(mask, return_inverse=True)
    per = [_mask_pairs(m, tuple(groups)) for m in masks.tolist()]
    cnt = np.array([len(p) for p in per], np.int64)
    flat = np.concatenate([np.asarray(p, np.int64) for p in per]) if per else np.zeros(0, np.int64)
    start = np.cumsum(cnt) - cnt
    row_cnt = cnt[inv.reshape(-1)]
    row_of = np.repeat(np.arange(len(rid)), row_cnt)
    within = np.arange(len(row_of)) - np.repeat(np.cumsum(row_cnt) - row_cnt, row_cnt)
    code = flat[start[inv.reshape(-1)][row_of] + within] if len(row_of) else row_of
    return _Coded(rid[row_of], code, all_pairs)


@lru_cache(maxsize=4)
def _pair_names(groups: tuple[str, ...]) -> pl.Series:
    """`x:a&b` of every pair of groups a < b, pair (i, j) at i * len(groups) + j."""
    k = len(groups)
    return pl.Series([f"x:{groups[i]}&{groups[j]}" for i in range(k) for j in range(k)])


@lru_cache(maxsize=1 << 14)
def _mask_pairs(m: int, groups: tuple[str, ...]) -> tuple[int, ...]:
    """The pairs (`_pair_names` positions) of the groups (bit i: groups[i]) in a row's mask."""
    present = [i for i in range(len(groups)) if m & (1 << i)]
    return tuple(i * len(groups) + j for n, i in enumerate(present) for j in present[n + 1 :])


def batch_features(table, sig, rows) -> list[list[str]]:
    """Feature tokens per row (lists, in `rows` order): the training path's view of
    `feature_frame`."""
    n = len(rows)
    if not n:
        return []
    ff = feature_frame(table, sig, rows)
    grouped = ff.group_by("row").agg("token")
    out: list[list[str]] = [[] for _ in range(n)]
    for r, toks in grouped.iter_rows():
        out[r] = sorted(toks)  # deterministic: training builds its matrix from these lists
    return out


def caption_tokens(text: str | None) -> list[str]:
    """Placeholdered caption tokens of one caption (for tests and explanations)."""
    tf = _token_frame(pl.Series([text], dtype=pl.String), pl.Series([0], dtype=pl.UInt32), "t")
    return tf["tok"].to_list()


def url_tokens(url_words: str | None) -> list[str]:
    """Placeholdered URL-slug tokens of one `url_words` value (for tests)."""
    tf = _token_frame(pl.Series([url_words], dtype=pl.String), pl.Series([0], dtype=pl.UInt32), "u")
    return tf["tok"].to_list()


@lru_cache(maxsize=1)
def _evidence_words() -> frozenset[str]:
    lex = load_lexicon()
    cats = [c for c in lex.terms if c not in ("names", "not_names", "stopwords")]
    return frozenset(w for c in cats for t in lex.get(c) for w in t.split())


def evidence_token(feature: str) -> str | None:
    """A feature token as evidence, or None when it holds anything but lexicon words,
    placeholders and signal/detector names (evidence by allowlist: no caption word leaks)."""
    kind, _, body = feature.partition(":")
    if kind in ("s", "d"):
        return feature
    if kind not in ("t", "u"):
        return None
    allowed = _evidence_words()
    parts = body.split("_")
    if all(p in allowed or (p.startswith("<") and p.endswith(">")) for p in parts):
        return feature
    return None
