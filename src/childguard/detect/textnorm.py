"""Shared normalised text columns, computed once per batch before any detector runs.

Every lexicon is matched against these columns, so the lexicon terms themselves go through the
same function (`normalize_terms`): what a detector looks for and what it looks in are always
normalised alike.

Columns added (all strings, never null, padded with one space on each side so that `' term '`
matches whole words with a plain substring automaton):

- `text_norm`: the caption lower-cased, accents folded (`ação` -> `acao`, `ł` -> `l`), letters
  and digits split apart (`5yo` -> `5 yo`, `#heitor2anos` -> `heitor 2 anos`), every other
  character a single space. CJK text keeps its characters (matched as substrings, since
  Japanese has no spaces), CJK punctuation becomes a space.
- `url_words`: the URL path (no host, no query) percent-decoded, camelCase split, file extension
  and `-300x200` size tokens dropped, then normalised like the caption, so
  `/2014/03/festa-5-anos-maria-clara.jpg` reads ` 2014 03 festa 5 anos maria clara `.
- `url_host`: the host name's labels as words (` www escolinhaflamboyant com br `); useful for
  institution words inside domain names, never for names (the host is often the photographer's).
- `both_norm`: `text_norm` followed by `url_words` (two spaces between them, so no
  multi-word term matches across the join).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

NORM_COLUMNS = ("text_norm", "url_words", "url_host", "both_norm")
# "" as an Arrow scalar made from buffers (`pa.scalar("")`, as `pc` would make it, imports pandas)
_EMPTY = pa.Array.from_buffers(
    pa.string(), 1, [None, pa.py_buffer(np.zeros(2, np.int32)), pa.py_buffer(b"")]
)[0]


def _build_fold_table() -> dict[str, str]:
    """Accented and compatibility characters -> their base letters (`é`->`e`, `ł`->`l`,
    `й`->`и`, `ª`->`a`, full-width `Ａ`->`a`). Kana keep their voicing marks: ベッド (bed) is
    not ペット (pet)."""
    table: dict[str, str] = {}
    ranges = [
        (0x00A0, 0x024F),  # Latin-1 supplement, Latin extended A/B
        (0x0370, 0x03FF),  # Greek
        (0x0400, 0x04FF),  # Cyrillic (й, ё, ї ...)
        (0x1E00, 0x1EFF),  # Latin extended additional (Vietnamese)
        (0x2070, 0x209F),  # super/subscripts
        (0xFB00, 0xFB06),  # ligatures
        (0xFF01, 0xFF5E),  # full-width ASCII
        (0xFF61, 0xFF9F),  # half-width katakana
    ]
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if 0xFF61 <= cp <= 0xFF9F:
                base = unicodedata.normalize("NFKC", ch)
            else:
                dec = unicodedata.normalize("NFKD", ch)
                base = "".join(c for c in dec if not unicodedata.combining(c))
            base = base.lower()
            if base and base != ch:
                table[ch] = base
    table.update(_FOLD)
    # combining marks of already-decomposed text (`İ`.lower() is `i` + U+0307)
    table.update({chr(cp): "" for cp in range(0x0300, 0x0370)})
    return table


# Letters NFKD does not decompose into a base letter plus a mark.
_FOLD = {
    "ł": "l",
    "Ł": "l",
    "ß": "ss",
    "ı": "i",
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "þ": "th",
    "ħ": "h",
    "ŀ": "l",
}
FOLD_TABLE = _build_fold_table()
_FOLD_FROM = list(FOLD_TABLE)
_FOLD_TO = list(FOLD_TABLE.values())
_TRANSLATE = str.maketrans(FOLD_TABLE)

_IMG_EXT = r"(?i)\.(?:jpe?g|png|gif|webp|bmp|tiff?|svg|avif|heic|jfif)(?:$|[/._-])"
_URL_SEP = r"[^A-Za-z0-9\x80-\x{10FFFF}]+"  # every ASCII non-word character
# Path tokens that are IDs, not words: digit-letter-digit runs (hex hashes, CDN keys such as
# `AVvXsEhQ8mZ2kLp4`), camelCase with digits, dense mixed case (`AbCdEfGhIjKlMnOp`); split,
# they would read as words.
_ID_TOKEN = (
    r"(?:^| )[^ ]*(?:[0-9][A-Za-z]+[0-9]|[A-Za-z][0-9]+[A-Za-z]+[0-9]|[a-z][A-Z][^ ]*[0-9]"
    r"|[0-9][^ ]*[a-z][A-Z]|[a-z][A-Z][a-z]?[A-Z])[^ ]*"
)


def fold_series(s: pl.Series, ascii_clean: bool = False) -> pl.Series:
    """Lower-case, fold accents, letters split from digits, every other character a space.

    ASCII rows (most of web data) take a fast path; only rows with other characters pay for
    the fold table and the Unicode word classes. `ascii_clean`: the caller already turned
    ASCII non-word characters into spaces."""
    s = s.fill_null("").str.to_lowercase()
    nonascii = s.str.len_bytes() != s.str.len_chars()
    if nonascii.any():
        idx = nonascii.arg_true()
        sub = _fold_chars(s.gather(idx)).str.replace_all(r"[^\p{L}\p{N}]+", " ")
        s = s.scatter(idx, sub)
    if not ascii_clean:
        s = _on_matching(s, r"[^a-z0-9 \x80-\x{10FFFF}]|  ", _nonword)
    return _on_matching(s, r"[0-9][^0-9 ]|[^0-9 ][0-9]", _split_digits)


# Below this many rows the fold table is applied with `str.translate`: Polars' `replace_many`
# builds its automaton of the table's 1,161 characters on every call (~1.3 ms), which the
# compiled normalisation's few sent-back rows paid on every batch. Every key is one character,
# so both replace each character on its own and give the same strings.
_TRANSLATE_MAX_ROWS = 512
assert all(len(k) == 1 for k in _FOLD_FROM)


def _fold_chars(s: pl.Series) -> pl.Series:
    """The fold table applied to every character of `s` (no nulls)."""
    if len(s) >= _TRANSLATE_MAX_ROWS:
        return s.str.replace_many(_FOLD_FROM, _FOLD_TO)
    return pl.Series(s.name, [x.translate(_TRANSLATE) for x in s.to_list()], dtype=pl.String)


def _nonword(s: pl.Series) -> pl.Series:
    return s.str.replace_all(r"[^a-z0-9\x80-\x{10FFFF}]+", " ")


def _split_digits(s: pl.Series) -> pl.Series:
    return s.str.replace_all(r"([0-9])([^0-9 ])", "$1 $2").str.replace_all(
        r"([^0-9 ])([0-9])", "$1 $2"
    )


def _on_matching(s: pl.Series, pattern: str, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """Apply `fn` only to the rows that contain `pattern` (a cheap test saves a rewrite)."""
    hit = s.str.contains(pattern)
    if not hit.any():
        return s
    if hit.all():
        return fn(s)
    idx = hit.arg_true()
    return s.scatter(idx, fn(s.gather(idx)))


def _pad(s: pl.Series) -> pl.Series:
    # one concat_str pass (two `+` would copy the column twice)
    return s.to_frame("s").select(
        pl.concat_str([pl.lit(" "), pl.col("s").str.strip_chars(" "), pl.lit(" ")]).alias("s")
    )["s"]


def normalize_series(s: pl.Series) -> pl.Series:
    """Normalise captions (or terms) exactly as `text_norm` does, padding included."""
    return _pad(fold_series(s.cast(pl.String)))


def fold_word(word: str) -> str:
    """One word folded like `fold_series` (for the few rows that reach per-row Python)."""
    return word.lower().translate(_TRANSLATE)


def normalize_terms(terms: list[str]) -> list[str]:
    """Lexicon terms in `text_norm` form, without padding; empty results dropped."""
    if not terms:
        return []
    out = normalize_series(pl.Series(terms, dtype=pl.String)).str.strip_chars(" ").to_list()
    return [t for t in out if t]


def _decode_percent(path: pl.Series) -> pl.Series:
    """Percent-decode only the rows that need it (a per-row Python call, on few rows)."""
    has = path.str.contains("%", literal=True).fill_null(False)
    if not has.any():
        return path
    idx = has.arg_true()
    decoded = pl.Series([unquote(p) for p in path.gather(idx).to_list()], dtype=pl.String)
    return path.scatter(idx, decoded)


def url_parts(url: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(host words, path words) of a URL column, both normalised and padded."""
    u = url.fill_null("")
    # data: URIs carry base64 bytes, not words
    b64 = u.str.contains(";base64,", literal=True)
    if b64.any():
        u = u.scatter(b64.arg_true(), "")
    u = u.str.strip_prefix("https://").str.strip_prefix("http://")
    other = u.str.contains("://", literal=True)
    if other.any():
        idx = other.arg_true()
        u = u.scatter(idx, u.gather(idx).str.replace(r"^[^/]*://", ""))
    # host up to the first `/`, path up to the first `?`/`#`, by literal splits (cutting at a
    # `str.find` offset mixed bytes and characters: non-ASCII URLs kept part of their query)
    hp = u.str.splitn("/", 2)
    host = hp.struct.field("field_0").str.replace(r":\d+$", "")
    # the path without its leading `/` (a separator, dropped below anyway)
    path = hp.struct.field("field_1").fill_null("").str.splitn("?", 2).struct.field("field_0")
    path = _on_matching(path, "#", lambda p: p.str.splitn("#", 2).struct.field("field_0"))
    path = _decode_percent(path)
    # size tokens (`300x200`) are dropped with the IDs: digit, letters, digit
    path = (
        path.str.replace_all(_IMG_EXT, " ")
        .str.replace_all(_URL_SEP, " ")
        .str.replace_all(_ID_TOKEN, "")
    )
    path = _on_matching(
        path, r"\p{Ll}\p{Lu}", lambda p: p.str.replace_all(r"(\p{Ll})(\p{Lu})", "$1 $2")
    )
    # hosts are matched by substring (`crechecantinhofeliz`), so lower-case words suffice
    host = host.str.to_lowercase().str.replace_many([".", "-"], [" ", " "])
    return _pad(host), _pad(fold_series(path, ascii_clean=True))


# The compiled pass costs ~0.35 s wall, 0.5 s CPU once per process (numba's import and its
# start-up on the first call, with the machine code cached on disk and SciPy's linear algebra
# left out of numba's BLAS probe: `childguard._numba`; the first process
# on a machine compiles it, ~15 s) and saves ~1 µs a row: small scans (the demo, tests, a short
# shard) keep to the Polars chain, a process switches once it has seen this many rows. Same
# output either way.
AUTO_MIN_ROWS = 131_072
_rows_seen = 0


def backend(rows: int = 0) -> str:
    """Which implementation normalises a batch of `rows` rows: `numba` (the compiled pass,
    `_textnorm_jit`) or `polars` (the chain above). `CHILDGUARD_TEXTNORM=polars|numba` forces
    one; by default (`auto`) numba once this process has seen `AUTO_MIN_ROWS` rows."""
    return "numba" if uses_compiled(_rows_seen + rows) else "polars"


def uses_compiled(rows: int) -> bool:
    """Whether a process that normalises `rows` rows in all switches to the compiled pass
    (`backend`'s rule; a scan asks it for its workers before starting them: `warm_compiled`)."""
    mode = os.environ.get("CHILDGUARD_TEXTNORM", "auto").lower()
    if mode == "polars" or importlib.util.find_spec("numba") is None:
        return False
    return mode == "numba" or rows >= AUTO_MIN_ROWS


_JIT_MODULES = (
    "childguard.detect._textnorm_jit",
    "childguard.detect._word_table_jit",
    "childguard.scorer._words_jit",
)


def warm_stamp() -> Path | None:
    """The file a process leaves once it has warmed the kernels (`warm_compiled`), so that the
    next scan's caller need not load them only for its workers' sake (~0.35 s wall, 0.5 s CPU).

    It sits in numba's cache directory beside the kernels (deleting that cache deletes it) and
    is named by what numba's cache is keyed on: each kernel module's modification time and
    size, numba's and Python's versions, the CPU. A stale stamp costs nothing but speed: a worker
    that finds no machine code compiles its own. `CHILDGUARD_WARM_STAMP` names another file."""
    import hashlib
    import importlib.metadata
    import sys

    if os.environ.get("CHILDGUARD_WARM_STAMP"):
        return Path(os.environ["CHILDGUARD_WARM_STAMP"])
    h = hashlib.sha256()
    origin = None
    for name in _JIT_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            return None
        st = os.stat(spec.origin)
        h.update(f"{name}:{st.st_mtime_ns}:{st.st_size};".encode())
        origin = origin or Path(spec.origin)
    try:
        h.update(importlib.metadata.version("numba").encode())
    except importlib.metadata.PackageNotFoundError:
        return None
    h.update(f"{sys.version}|{platform.machine()}|{_cpu_name()}".encode())
    assert origin is not None
    return origin.parent / "__pycache__" / f"childguard-warm-{h.hexdigest()[:16]}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags")):
                    return line.strip()
    except OSError:
        pass
    return platform.processor()


def is_warm() -> bool:
    """Whether a process on this machine has warmed the current kernels (`warm_stamp`)."""
    stamp = warm_stamp()
    return stamp is not None and stamp.exists()


def warm_compiled() -> None:
    """Compile the kernels every compiled scan calls (or load them from numba's cache) on a
    few rows of each kind. numba writes what it compiles to its cache, so a caller that does
    this before its worker processes reach the kernels compiles once for all of them: on a
    machine's first run that is ~15 s of CPU once instead of in every worker."""
    from childguard.detect import _textnorm_jit as jit
    from childguard.detect._word_table import warm_compiled as warm_word_table
    from childguard.scorer import _words_jit

    # ASCII and non-ASCII captions (a code point first seen, a `Σ` sent back), an ASCII URL,
    # one sent back (non-ASCII), nulls and empty strings: every kernel and the merge
    # (built through Polars: pa.array on Python lists imports pandas)
    text = pl.Series(["Meu filho Lucas, 5 anos", "ΣΟΦΙΑ é 東京", None, "", "Naïve Café 2019"])
    url = pl.Series(
        ["https://x.com/a/festa-5-anos.jpg?x=1", "https://a.b/%C3%A7/ΣΟΦΙΑ.jpg", None, "",
         "http://www.Example.com:8080/fotoKid_2019-300x200.png#a"]
    )  # fmt: skip
    words = jit.text_norm(text.to_arrow())
    jit.url_parts(url.to_arrow())
    assert words is not None
    warm_word_table(words)
    _words_jit.warm()  # the scorer's word split
    stamp = warm_stamp()
    if stamp is not None:
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:  # a read-only install: numba caches elsewhere; callers warm every time
            pass


def _columns_polars(text: pa.ChunkedArray, url: pa.ChunkedArray) -> tuple[pa.Array, ...]:
    t = pl.from_arrow(text)
    u = pl.from_arrow(url)
    assert isinstance(t, pl.Series) and isinstance(u, pl.Series)
    host, path = url_parts(u.cast(pl.String))
    return tuple(
        c.to_arrow().cast(pa.string()) for c in (normalize_series(t.cast(pl.String)), path, host)
    )


def _columns_numba(text: pa.ChunkedArray, url: pa.ChunkedArray) -> tuple[pa.Array, ...]:
    from childguard.detect import _textnorm_jit as jit

    text_norm = jit.text_norm(text)
    parts = jit.url_parts(url)
    if text_norm is None or parts is None:  # a column that is not text: the chain casts it
        return _columns_polars(text, url)
    host, path = parts
    return text_norm, path, host


def prepare(batch: pa.Table) -> pa.Table:
    """Add the shared normalised columns (see module docstring) once per batch."""
    if "text_norm" in batch.column_names:
        return batch
    global _rows_seen
    columns = _columns_numba if backend(batch.num_rows) == "numba" else _columns_polars
    _rows_seen += batch.num_rows
    text_norm, path, host = columns(batch.column("text"), batch.column("url"))
    both = pc.binary_join_element_wise(text_norm, path, _EMPTY)
    for name, col in (
        ("text_norm", text_norm),
        ("url_words", path),
        ("url_host", host),
        ("both_norm", both),
    ):
        batch = batch.append_column(name, col)
    return batch
