"""Redaction: nothing childguard writes or prints may carry a child's name, a caption or a URL.

Names become initials (`maria clara` -> `M. C.`), digits are kept (ages and dates are what a
reviewer needs), other words are reduced to their first letter unless they are known
non-identifying vocabulary (lexicon terms), which the caller passes in.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)


def initials(name: str) -> str:
    """`maria clara` -> `M. C.`; `@joaozinho_2015` -> `@J.`"""
    prefix = "@" if name.startswith("@") else ""
    parts = [w for w in _WORD.findall(name) if not w.isdigit()]
    return prefix + " ".join(w[0].upper() + "." for w in parts if w)


def redact_words(text: str, keep: frozenset[str] = frozenset(), max_len: int = 80) -> str:
    """Keep digits and words in `keep` (lower-case), reduce every other word to an initial."""

    def repl(m: re.Match[str]) -> str:
        w = m.group(0)
        if w.isdigit() or w.lower() in keep:
            return w
        return w[0].upper() + "."

    out = _WORD.sub(repl, text)
    return out if len(out) <= max_len else out[: max_len - 1] + "…"


def redact_url(url: str | None) -> str:
    """Host reduced to its registrable-looking tail, path words to initials."""
    if not url:
        return ""
    m = re.match(r"^([a-z][a-z0-9+.-]*://)?([^/?#]*)(.*)$", url, re.I)
    if not m:
        return redact_words(url)
    host = m.group(2)
    tail = ".".join(host.split(".")[-2:]) if host else ""
    return f"…{tail}/" + redact_words(m.group(3).lstrip("/"), max_len=60)


# Words detectors use in their own evidence ("name:M. C. context:row context", "school:generic").
EVIDENCE_WORDS = frozenset(
    [
        # the images detector's evidence (numbers only: faces:2 youngest_age:9 minor:0.93)
        "faces",
        "youngest",
        "conf",
        "unsafe",
        "term",
        "place",
        "name",
        "names",
        "school",
        "context",
        "row",
        "generic",
        "minor",
        "picture",  # picture-level detectors: `picture:minor embedding:clip`
        "embedding",
        "clip",
        "probe",
        "class",
        "age",
        "group",
        "child",
        "list",
        "type",
        "label",
        "birth",
        "record",
        "weight",
        "time",
        "date",
        "handle",
        "at",
        "paren",
        "kinship",
        "relation",
        "event",
        "first",
        "day",
        "p_id",
        "p_minor",
        "top",
        "s",
        "d",
        "t",
        "u",
        "n",
        "url",
        "caption",
        "slug",
        "near",
        "anchor",
        "with",
        "and",
        "or",
        "of",
        "in",
        "named",
        "institution",
        "youth",
        "sport",
        "hospital",
        "maternity",
        "model",
        "pet",
        "product",
        "doll",
        "shape",
        "candidate",
        "score",
        "digits",
        "years",
        "months",
        "days",
        "old",
        "child_name",
        "adult",
        "year",
        "month",
        "week",
        "none",
        "image",
        "error",
        "pdq",
        "low",
        "quality",
        "md5",
        "sha1",
        "sha256",
        "laion",
        "hash",
    ]
)
_EV_PIECE = re.compile(r"[^\s:=,;()\[\]|/+]+|[\s:=,;()\[\]|/+]+")
_INITIAL = re.compile(r"^@?\w\.$", re.UNICODE)
_NUMERIC = re.compile(r"^[<>=]*[0-9][0-9.%]*$")
_PLACEHOLDER = re.compile(r"^(?:[a-z]:)?(?:<[a-z]+>|[a-z_]+)(?:_(?:<[a-z]+>|[^_\s]+))*$")


def allow_evidence(evidence: str | None, vocabulary: frozenset[str]) -> str | None:
    """Evidence reduced to allowlisted pieces (others become `*`); None stays None."""
    if evidence is None:
        return None
    return _allow_cached(evidence, vocabulary)


@lru_cache(maxsize=65536)
def _allow_cached(evidence: str, vocabulary: frozenset[str]) -> str:
    """Evidence by allowlist: lexicon terms (`vocabulary`), digits, initials, placeholders
    (`<name>`) and the detectors' own evidence words pass; every other piece becomes `*`.

    Applied to every reason before it is written anywhere, so a detector that takes a name
    for a place (`place:<a child's name>`) cannot leak it into findings, report or logs."""
    if evidence is None:
        return None
    out = []
    for piece in _EV_PIECE.findall(evidence):
        if not piece.strip() or piece[0] in " :=,;()[]|/+":
            out.append(piece)
            continue
        if _allowed(piece, vocabulary):
            out.append(piece)
        else:
            out.append("*")
    return "".join(out)


def _allowed(piece: str, vocabulary: frozenset[str]) -> bool:
    if (
        _NUMERIC.match(piece)
        or _INITIAL.match(piece)
        or (piece.startswith("@") and _INITIAL.match(piece))
    ):
        return True
    if re.match(r"^[\w.-]+@v?\d+$", piece):
        return True  # a takedown list's name@version: chosen by the operator, not row data
    low = piece.lower()
    if low in EVIDENCE_WORDS or low in vocabulary:
        return True
    if "." in piece and all(_INITIAL.match(p + ".") for p in piece.split(".") if p):
        return True  # "M.C." initials without spaces
    # scorer features: `t:son_<name>`, `d:names>=1.0`; every part must pass on its own
    if "_" in piece or "<" in piece or ">" in piece:
        parts = [p for p in re.split(r"[_<>=]+", low) if p]
        return all(p in EVIDENCE_WORDS or p in vocabulary or _NUMERIC.match(p) for p in parts)
    return False
