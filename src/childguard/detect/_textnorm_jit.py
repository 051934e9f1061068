"""textnorm's columns in one compiled pass per column over the Arrow buffers (numba).

Same output as the Polars chain in `textnorm` byte for byte (a property test compares them on
random and real rows). The kernels do what the chain does without its intermediate columns:

- captions: each character maps to its lower-cased, accent-folded form with every
  non-letter/non-digit turned into a space; runs of spaces collapse, digits are split from
  letters, and the result is padded. Non-ASCII characters read their mapping from a table that
  is filled lazily, per code point first seen, by running the Polars chain itself on that one
  character, so the kernel holds no Unicode data of its own. Only `Σ` (whose lower case
  depends on its neighbours) sends its row back to the Polars chain.
- URLs: ASCII URLs (nearly all: non-ASCII hosts and paths are percent-encoded) go through
  scheme, host, port, query, percent-decoding, image extension, separators, ID tokens,
  camelCase and the caption fold in one loop per row. A URL with a non-ASCII byte, or whose
  percent-escapes decode to one, goes back to the Polars chain (about 0.05% of real rows).

Rows sent back are computed by the caller with the Polars chain and merged in (`merge`).
Compiled once per machine (`cache=True`: the machine code is stored next to this file, or in
numba's user cache when that is read-only).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from childguard._numba import nb
from childguard.detect._nulls import null_flags
from childguard.detect._util import take_rows

# status per row
OK, FALLBACK, UNKNOWN = 0, 1, 2
# table_len values that are not lengths
T_UNKNOWN, T_FALLBACK = 255, 254
WIDTH = 8  # bytes of one code point's mapping (longer ones fall back; none do today)

_B64 = np.frombuffer(b";base64,", np.uint8)
_HTTPS = np.frombuffer(b"https://", np.uint8)
_HTTP = np.frombuffer(b"http://", np.uint8)
# textnorm._IMG_EXT's alternatives, in the regex's order (`tiff?` tries `tiff` first)
_EXTS = [b"jpeg", b"jpg", b"png", b"gif", b"webp", b"bmp", b"tiff", b"tif", b"svg", b"avif", b"heic", b"jfif"]
_EXT_BYTES = np.frombuffer(b"".join(_EXTS), np.uint8)
_EXT_OFF = np.cumsum([0] + [len(e) for e in _EXTS]).astype(np.int64)


@nb.njit(cache=True, nogil=True)
def _grow(out, pos, need):
    if pos + need <= out.shape[0]:
        return out
    new = np.empty(max(2 * out.shape[0], pos + need), np.uint8)
    new[:pos] = out[:pos]
    return new


@nb.njit(cache=True, nogil=True, inline="always")
def _emit(out, pos, x, prev, pending, start):
    """Append byte `x` of a folded caption: spaces collapse and are dropped at the ends
    (`pending`), an ASCII digit next to another non-space character gets a space between."""
    if x == 32:
        return pos, prev, pending or pos > start + 1
    cls = 1 if 48 <= x <= 57 else 2
    if pending:
        out[pos] = 32
        pos += 1
    elif prev + cls == 3:  # digit then other, or other then digit
        out[pos] = 32
        pos += 1
    out[pos] = x
    return pos + 1, cls, False


@nb.njit(cache=True, nogil=True, inline="always")
def _decode(data, i):
    """(code point, byte length) of the UTF-8 character at `i` (valid UTF-8, non-ASCII)."""
    c = np.int64(data[i])
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if c < 0xF0:
        return (
            ((c & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F),
            3,
        )
    return (
        ((c & 0x07) << 18)
        | ((np.int64(data[i + 1]) & 0x3F) << 12)
        | ((np.int64(data[i + 2]) & 0x3F) << 6)
        | (np.int64(data[i + 3]) & 0x3F),
        4,
    )


@nb.njit(cache=True, nogil=True)
def norm_text(offsets, data, null, table_len, table_bytes):
    """(offsets, bytes, status) of `text_norm` for a caption column."""
    n = offsets.shape[0] - 1
    out = np.empty(max(64, (offsets[n] - offsets[0]) + 2 * n + 64), np.uint8)
    out_off = np.zeros(n + 1, np.int64)
    status = np.zeros(n, np.uint8)
    pos = 0
    for r in range(n):
        a = offsets[r]
        b = a if null[r] else offsets[r + 1]
        out = _grow(out, pos, 8 * (b - a) + 2)
        start = pos
        out[pos] = 32
        pos += 1
        prev = 0
        pending = False
        i = a
        while i < b:
            c = data[i]
            if c < 0x80:
                if 65 <= c <= 90:
                    c += 32
                if not (48 <= c <= 57 or 97 <= c <= 122):
                    c = 32
                pos, prev, pending = _emit(out, pos, c, prev, pending, start)
                i += 1
                continue
            cp, k = _decode(data, i)
            m = table_len[cp]
            if m >= T_FALLBACK:
                status[r] = FALLBACK if m == T_FALLBACK else UNKNOWN
                break
            for j in range(m):
                pos, prev, pending = _emit(out, pos, table_bytes[cp, j], prev, pending, start)
            i += k
        if status[r] != OK:
            pos = start
        else:
            out[pos] = 32
            pos += 1
        out_off[r + 1] = pos
    return out_off, out[:pos], status


@nb.njit(cache=True, nogil=True)
def unknown_codepoints(offsets, data, null, rows, table_len):
    """The code points of `rows` that the table does not hold yet (sorted, unique)."""
    seen = np.zeros(table_len.shape[0], np.bool_)
    for r in rows:
        if null[r]:
            continue
        i = offsets[r]
        b = offsets[r + 1]
        while i < b:
            if data[i] < 0x80:
                i += 1
                continue
            cp, k = _decode(data, i)
            if table_len[cp] == T_UNKNOWN:
                seen[cp] = True
            i += k
    return np.flatnonzero(seen)


@nb.njit(cache=True, nogil=True, inline="always")
def _starts(data, a, b, pat):
    if b - a < pat.shape[0]:
        return False
    for j in range(pat.shape[0]):  # noqa: SIM110 (numba: no generators)
        if data[a + j] != pat[j]:
            return False
    return True


@nb.njit(cache=True, nogil=True, inline="always")
def _alnum(c):
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


@nb.njit(cache=True, nogil=True, inline="always")
def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


@nb.njit(cache=True, nogil=True)
def _ext_at(s, i, n, ext_bytes, ext_off):
    """Length of the image extension starting at `s[i]` (case-insensitive) followed by the end
    or one of `/._-`, plus that separator; 0 when none."""
    for e in range(ext_off.shape[0] - 1):
        lo = ext_off[e]
        m = ext_off[e + 1] - lo
        if i + m > n:
            continue
        ok = True
        for j in range(m):
            c = s[i + j]
            if 65 <= c <= 90:
                c += 32
            if c != ext_bytes[lo + j]:
                ok = False
                break
        if not ok:
            continue
        if i + m == n:
            return m
        c = s[i + m]
        if c == 47 or c == 46 or c == 95 or c == 45:
            return m + 1
    return 0


@nb.njit(cache=True, nogil=True)
def _is_id(s, a, b):
    """Does the token `s[a:b]` (ASCII letters and digits) match textnorm._ID_TOKEN's core?"""
    pair = False
    digit = False
    for i in range(a, b):
        c = s[i]
        if 48 <= c <= 57:
            digit = True
            # digit, letters, digit
            j = i + 1
            while j < b and not (48 <= s[j] <= 57):
                j += 1
            if j > i + 1 and j < b:
                return True
        elif 97 <= c <= 122 and i + 1 < b and 65 <= s[i + 1] <= 90:
            pair = True
            # lower, upper, [lower], upper
            if i + 2 < b and 65 <= s[i + 2] <= 90:
                return True
            if i + 3 < b and 97 <= s[i + 2] <= 122 and 65 <= s[i + 3] <= 90:
                return True
    return pair and digit


@nb.njit(cache=True, nogil=True)
def _find(data, a, b, x):
    for i in range(a, b):
        if data[i] == x:
            return i
    return -1


@nb.njit(cache=True, nogil=True)
def _locate(data, a, b, b64, https, http):
    """(ok, host start, host end, path start, path end) of the URL `data[a:b]`; not ok when
    it holds a non-ASCII byte."""
    acc = 0
    semi = 0
    for i in range(a, b):  # no early exit: LLVM vectorises this
        acc |= data[i]
        semi += data[i] == 59  # `;`
    if acc >= 0x80:
        return False, a, a, a, a
    if semi:  # data: URIs carry base64 bytes, not words
        for i in range(a, b - b64.shape[0] + 1):
            if data[i] == 59 and _starts(data, i, b, b64):
                return True, a, a, a, a
    if _starts(data, a, b, https):
        a += https.shape[0]
    if _starts(data, a, b, http):
        a += http.shape[0]
    f = _find(data, a, b, 47)
    # another scheme: `^[^/]*://`
    if f > a and data[f - 1] == 58 and f + 1 < b and data[f + 1] == 47:
        a = f + 2
        f = _find(data, a, b, 47)
    ha = a
    hb = b if f < 0 else f
    pa_ = b if f < 0 else f + 1
    pb = b
    for i in range(pa_, pb):
        if data[i] == 63 or data[i] == 35:  # `?`, `#`
            pb = i
            break
    # `:port` (`:\d+$`)
    for i in range(hb - 1, ha - 1, -1):
        if data[i] == 58:
            if i + 1 < hb:
                digits = True
                for j in range(i + 1, hb):
                    if not (48 <= data[j] <= 57):
                        digits = False
                        break
                if digits:
                    hb = i
            break
    return True, ha, hb, pa_, pb


@nb.njit(cache=True, nogil=True)
def _unquote(data, a, b, dst):
    """Percent-decode `data[a:b]` into `dst` as urllib's unquote does; -1 when a byte
    decodes to >= 0x80 (then UTF-8 decoding and Unicode classes are Python's job)."""
    k = 0
    i = a
    while i < b:
        c = data[i]
        if c == 37 and i + 2 < b:
            h1 = _hex(data[i + 1])
            h2 = _hex(data[i + 2])
            if h1 >= 0 and h2 >= 0:
                v = h1 * 16 + h2
                if v >= 0x80:
                    return -1
                dst[k] = v
                k += 1
                i += 3
                continue
        dst[k] = c
        k += 1
        i += 1
    return k


@nb.njit(cache=True, nogil=True)
def _host(data, a, b, out, pos):
    """Lower case, `.`/`-` as spaces, stripped and padded; the new end of `out`."""
    out[pos] = 32
    pos += 1
    while a < b and (data[a] == 32 or data[a] == 46 or data[a] == 45):
        a += 1
    while b > a and (data[b - 1] == 32 or data[b - 1] == 46 or data[b - 1] == 45):
        b -= 1
    for i in range(a, b):
        c = data[i]
        if 65 <= c <= 90:
            c += 32
        elif c == 46 or c == 45:
            c = 32
        out[pos] = c
        pos += 1
    out[pos] = 32
    return pos + 1


@nb.njit(cache=True, nogil=True)
def _path_words(src, a, b, out, pos, ext_bytes, ext_off):
    """`url_words` of the decoded path `src[a:b]`; the new end of `out`.

    textnorm's chain in one pass: an image extension after a `.` is dropped with the
    separator after it, every other run of non-word characters separates words, a word that
    is an ID (`_is_id`) is dropped, and the rest is camelCase-split, lower-cased and digit-split
    like a caption, one space between words, padded."""
    start = pos
    out[pos] = 32
    pos += 1
    prev = 0
    pending = False
    i = a
    while i < b:
        c = src[i]
        if not _alnum(c):
            if c == 46:
                e = _ext_at(src, i + 1, b, ext_bytes, ext_off)
                if e > 0:
                    i += 1 + e
                    continue
            i += 1
            continue
        t1 = i + 1
        while t1 < b and _alnum(src[t1]):
            t1 += 1
        if t1 - i < 2 or not _is_id(src, i, t1):
            pos, prev, pending = _emit(out, pos, 32, prev, pending, start)
            for j in range(i, t1):
                c = src[j]
                if 65 <= c <= 90:
                    if j > i and 97 <= src[j - 1] <= 122:
                        pos, prev, pending = _emit(out, pos, 32, prev, pending, start)
                    c += 32
                pos, prev, pending = _emit(out, pos, c, prev, pending, start)
        i = t1
    out[pos] = 32
    return pos + 1


@nb.njit(cache=True, nogil=True)
def norm_url(offsets, data, null, ext_bytes, ext_off, b64, https, http):
    """(host offsets, host bytes, path offsets, path bytes, status) for a URL column."""
    n = offsets.shape[0] - 1
    total = offsets[n] - offsets[0]
    hout = np.empty(max(64, total // 2 + 2 * n + 64), np.uint8)
    pout = np.empty(max(64, total + 2 * n + 64), np.uint8)
    hoff = np.zeros(n + 1, np.int64)
    poff = np.zeros(n + 1, np.int64)
    status = np.zeros(n, np.uint8)
    s1 = np.empty(256, np.uint8)
    hpos = 0
    ppos = 0
    for r in range(n):
        a = offsets[r]
        b = a if null[r] else offsets[r + 1]
        ok, ha, hb, pa_, pb = _locate(data, a, b, b64, https, http)
        if not ok:
            status[r] = FALLBACK
            hoff[r + 1] = hpos
            poff[r + 1] = ppos
            continue
        src = data
        if _find(data, pa_, pb, 37) >= 0:  # `%`
            if s1.shape[0] < pb - pa_:
                s1 = np.empty(2 * (pb - pa_), np.uint8)
            k = _unquote(data, pa_, pb, s1)
            if k < 0:
                status[r] = FALLBACK
                hoff[r + 1] = hpos
                poff[r + 1] = ppos
                continue
            src = s1
            pa_ = 0
            pb = k
        hout = _grow(hout, hpos, hb - ha + 2)
        hpos = _host(data, ha, hb, hout, hpos)
        hoff[r + 1] = hpos
        pout = _grow(pout, ppos, 4 * (pb - pa_) + 2)
        ppos = _path_words(src, pa_, pb, pout, ppos, ext_bytes, ext_off)
        poff[r + 1] = ppos
    return hoff, hout[:hpos], poff, pout[:ppos], status


@nb.njit(cache=True, nogil=True)
def merge(off, data, rows, foff, fdata):
    """`off`/`data` with rows `rows` (sorted, unique) replaced by the values in `foff`/`fdata`.

    The rows between two replaced ones are one run: copied at once, their offsets shifted
    (a copy per row cost ~20 ns a row, for the handful of rows a batch sends back)."""
    n = off.shape[0] - 1
    out = np.empty(data.shape[0] + fdata.shape[0], np.uint8)
    out_off = np.empty(n + 1, np.int64)
    out_off[0] = 0
    pos = 0
    start = 0  # first row of the current run of kept rows
    for j in range(rows.shape[0] + 1):
        r = rows[j] if j < rows.shape[0] else n
        a = off[start]
        b = off[r]
        out[pos : pos + b - a] = data[a:b]
        shift = pos - a
        for k in range(start + 1, r + 1):
            out_off[k] = off[k] + shift
        pos += b - a
        if j < rows.shape[0]:
            fa = foff[j]
            fb = foff[j + 1]
            out[pos : pos + fb - fa] = fdata[fa:fb]
            pos += fb - fa
            out_off[r + 1] = pos
            start = r + 1
    return out_off, out[:pos]


# --- Python side: Arrow buffers in, Arrow arrays out; the Polars chain for rows sent back ---


class _CodepointTable:
    """Per code point: its folded form (`WIDTH` bytes, non-word characters as spaces)."""

    def __init__(self) -> None:
        self.length = np.full(0x110000, T_UNKNOWN, np.uint8)
        self.data = np.zeros((0x110000, WIDTH), np.uint8)
        self.length[0x3A3] = T_FALLBACK  # Σ: lower case `σ` or final `ς` by context

    def fill(self, cps: np.ndarray) -> None:
        """Map `cps` with the Polars chain itself (lower, fold, non-word -> space)."""
        import polars as pl

        from childguard.detect.textnorm import _FOLD_FROM, _FOLD_TO

        cps = cps[self.length[cps] == T_UNKNOWN]
        if not cps.size:
            return
        mapped = (
            pl.Series([chr(c) for c in cps.tolist()], dtype=pl.String)
            .str.to_lowercase()
            .str.replace_many(_FOLD_FROM, _FOLD_TO)
            .str.replace_all(r"[^\p{L}\p{N}]", " ")
            .to_list()
        )
        for cp, m in zip(cps.tolist(), mapped, strict=True):
            enc = m.encode("utf-8")
            if len(enc) > WIDTH:
                self.length[cp] = T_FALLBACK
                continue
            self.data[cp, : len(enc)] = np.frombuffer(enc, np.uint8)
            self.length[cp] = len(enc)


_TABLE: _CodepointTable | None = None


def _table() -> _CodepointTable:
    global _TABLE
    if _TABLE is None:
        _TABLE = _CodepointTable()
    return _TABLE


def _string_array(col) -> pa.Array | None:
    """`col` as one string/large_string array, or None when it is not text (the Polars chain
    then casts it as before)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr
    if pa.types.is_string_view(t) or pa.types.is_null(t):
        return arr.cast(pa.large_string())
    return None


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int64 offsets, data bytes, null flags) of a string array, without copying the data."""
    n = len(arr)
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8), np.zeros(n, np.uint8)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], width)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    # always read-only: a Parquet column's buffer is writable, a Polars one is not, and numba
    # compiles (and caches) a kernel once per argument type: one type, one compilation
    data = data.view()
    data.flags.writeable = False
    if arr.null_count:
        null = null_flags(arr).view(np.uint8)
    else:
        null = np.zeros(n, np.uint8)
    return offsets, data, null


def _array(off: np.ndarray, data: np.ndarray) -> pa.Array:
    n = len(off) - 1
    if off[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(off.astype(np.int32)), pa.py_buffer(data)]
        )
    big = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(off), pa.py_buffer(data)])
    return big.cast(pa.string())  # fails as the Polars chain's cast would


def _merged(off, data, rows: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's column with the rows it sent back replaced by the Polars chain's values."""
    if not rows.size:
        return off, data
    arr = values.to_arrow() if hasattr(values, "to_arrow") else values
    foff, fdata, _ = _buffers(arr.cast(pa.large_string()))
    return merge(off, data, rows.astype(np.int64), foff, fdata)


def text_norm(col) -> pa.Array | None:
    """`text_norm` of a caption column (None: not a text column, use the Polars chain)."""
    import polars as pl

    from childguard.detect.textnorm import normalize_series

    arr = _string_array(col)
    if arr is None:
        return None
    off, data, null = _buffers(arr)
    table = _table()
    o, d, st = norm_text(off, data, null, table.length, table.data)
    if (st == UNKNOWN).any():
        table.fill(unknown_codepoints(off, data, null, np.flatnonzero(st == UNKNOWN), table.length))
        o, d, st = norm_text(off, data, null, table.length, table.data)
    rows = np.flatnonzero(st)
    if rows.size:
        sub = pl.from_arrow(take_rows(arr, rows))
        assert isinstance(sub, pl.Series)
        o, d = _merged(o, d, rows, normalize_series(sub.cast(pl.String)))
    return _array(o, d)


def url_parts(col) -> tuple[pa.Array, pa.Array] | None:
    """(`url_host`, `url_words`) of a URL column (None: not a text column)."""
    import polars as pl

    from childguard.detect import textnorm

    arr = _string_array(col)
    if arr is None:
        return None
    off, data, null = _buffers(arr)
    ho, hd, po, pd, st = norm_url(off, data, null, _EXT_BYTES, _EXT_OFF, _B64, _HTTPS, _HTTP)
    rows = np.flatnonzero(st)
    if rows.size:
        sub = pl.from_arrow(take_rows(arr, rows))
        assert isinstance(sub, pl.Series)
        host, path = textnorm.url_parts(sub.cast(pl.String))
        ho, hd = _merged(ho, hd, rows, host)
        po, pd = _merged(po, pd, rows, path)
    return _array(ho, hd), _array(po, pd)
