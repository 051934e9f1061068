"""Redaction: nothing childguard writes or prints may carry a child's name, a caption or a URL.

Names become initials (`maria clara` -> `M. C.`), digits are kept (ages and dates are what a
reviewer needs), other words are reduced to their first letter unless they are known
non-identifying vocabulary (lexicon terms), which the caller passes in.
"""

from __future__ import annotations

import re

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
