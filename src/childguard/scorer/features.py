"""Features of a screened row for the trained scorer.

Three kinds, all strings ("feature tokens"), so one linear model can weigh them together:
- `t:`/`u:` caption and URL-slug words and word pairs, after **placeholders**: given names,
  capitalised words that are no lexicon or common word, handles, numbers and ids become
  `<name>`, `<cap>`, `<handle>`, `<age>`/`<year>`/`<num>`, `<id>`. No name can be a feature, so a
  model cannot learn (or leak) the children in its training rows.
- `s:` the shared signals that fired (child words, kinship, ages, schools, pet words, ...).
- `d:` the caption detectors that fired, with their labels.

Tokens are hashed to 64-bit ids (mmh3); a model holds the sorted ids of the tokens it kept
(seen in enough distinct training rows) and one weight per id, so unknown tokens weigh nothing.
Per-row Python runs here, on screened rows only (a few percent of a dataset).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import mmh3
import numpy as np

from childguard.detect.lexicon import load_lexicon
from childguard.detect.names import load_word_set

FEATURE_VERSION = "1"

# caption words: letters runs, digit runs, handles; CJK runs are split into character pairs
_WORD = re.compile(r"@[\w.]{2,}|[^\W\d_]+|[0-9]+", re.UNICODE)
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_HEXISH = re.compile(r"^(?=.*\d)[0-9a-f]{5,}$")

# signal columns (detect/signals.py) used as features; child_word is text, candidate derived
SIGNAL_FEATURES = (
    "ctx", "host_school", "child", "child_ambiguous", "child_model", "relation", "event",
    "birthday", "school", "youth_sport", "hospital", "birth", "first_day", "neg_product",
    "neg_pet", "neg_doll", "neg_religious", "neg_campaign", "neg_adult", "adult_person",
    "age_child", "class_des", "youth", "at", "paren_age", "adult_paren", "pet_emoji",
    "age_adult", "date", "time", "weight", "length", "class_word", "class_num", "possessive",
    "child_human", "pet_words",
)  # fmt: skip
DETECTOR_FEATURES = (
    "ages", "birth_details", "child_terms", "dates", "handles", "institutions", "names", "places",
)  # fmt: skip


def _fold(word: str) -> str:
    w = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in w if not unicodedata.combining(c))


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


def _number(tok: str) -> str:
    if len(tok) > 4:
        return "<id>"
    v = int(tok)
    if v < 18:
        return "<age>"
    if 1900 <= v <= 2035:
        return "<year>"
    return "<num>"


def caption_tokens(text: str | None) -> list[str]:
    """Placeholdered, folded caption words in order."""
    if not text:
        return []
    keep, names = vocab()
    out: list[str] = []
    for m in _WORD.finditer(text):
        raw = m.group(0)
        if raw[0] == "@":
            out.append("<handle>")
            continue
        if "0" <= raw[0] <= "9":
            out.append(_number(raw))
            continue
        if _CJK.search(raw):
            out.extend(raw[i : i + 2] for i in range(max(1, len(raw) - 1)))
            continue
        w = _fold(raw)
        if w in names:
            out.append("<name>")
        elif raw[0].isupper() and w not in keep:
            out.append("<cap>")
        else:
            out.append(w)
    return out


def url_tokens(url_words: str | None) -> list[str]:
    """Placeholdered URL-slug words (input: textnorm's `url_words`, folded and split)."""
    if not url_words:
        return []
    keep, names = vocab()
    out: list[str] = []
    for w in url_words.split():
        if w.isascii() and w.isdigit():
            out.append(_number(w))
        elif _HEXISH.match(w) or (len(w) > 12 and w not in keep):
            out.append("<id>")
        elif w in names:
            out.append("<name>")
        elif _CJK.search(w):
            out.extend(w[i : i + 2] for i in range(max(1, len(w) - 1)))
        else:
            out.append(w)
    return out


def _grams(prefix: str, toks: Sequence[str]) -> Iterable[str]:
    for t in toks:
        yield f"{prefix}{t}"
    for a, b in itertools.pairwise(toks):
        yield f"{prefix}{a}_{b}"


def row_features(
    text: str | None,
    url_words: str | None,
    signals: Iterable[str],
    detectors: Iterable[str],
) -> list[str]:
    """Every feature token of one row (duplicates removed, order kept)."""
    ct = caption_tokens(text)
    ut = url_tokens(url_words)
    feats = ["bias"]
    feats += [f"s:{s}" for s in signals]
    feats += [f"d:{d}" for d in detectors]
    feats += _grams("t:", ct)
    feats += _grams("u:", ut)
    n_names = ct.count("<name>") + ct.count("<cap>")
    feats.append(f"n:names={min(n_names, 3)}")
    feats.append(f"n:urlnames={min(ut.count('<name>'), 3)}")
    feats.append(f"n:len={min(len(ct) // 5, 8)}")
    if not ct:
        feats.append("n:no_text")
    return list(dict.fromkeys(feats))


def token_ids(tokens: Iterable[str]) -> np.ndarray:
    """64-bit ids of feature tokens (mmh3 x64, seed 0), as uint64."""
    return np.array([mmh3.hash64(t, signed=False)[0] for t in tokens], dtype=np.uint64)


def batch_features(table, sig, rows) -> list[list[str]]:
    """Feature tokens of the given rows of a scored batch.

    table: the prepared batch (pyarrow) with every caption detector's columns;
    sig: that batch's shared signals (`signals.compute`); rows: row positions (ints)."""
    import polars as pl

    if not len(rows):
        return []
    idx = pl.Series("i", list(rows), dtype=pl.UInt32)
    cols = ["text", "url_words"]
    dets = []
    for d in DETECTOR_FEATURES:
        if f"{d}__score" in table.column_names:
            dets.append(d)
            cols += [f"{d}__score"] + (
                [f"{d}__label"] if f"{d}__label" in table.column_names else []
            )
    sub = pl.from_arrow(table.select(cols)).gather(idx)
    s = sig.select([c for c in SIGNAL_FEATURES if c in sig.columns]).gather(idx)
    sig_names = s.columns
    sig_rows = s.rows()
    out: list[list[str]] = []
    for k, r in enumerate(sub.iter_rows(named=True)):
        fired = [n for n, v in zip(sig_names, sig_rows[k], strict=True) if v]
        dfe: list[str] = []
        for d in dets:
            v = r[f"{d}__score"] or 0.0
            if v > 0:
                dfe += [d, f"{d}:{r.get(f'{d}__label')}", f"{d}>={v:.1f}"]
        out.append(row_features(r["text"], r["url_words"], fired, dfe))
    return out


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
