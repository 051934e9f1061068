"""The scorer's word split compiled (numba): the words of captions (`features._WORD_RE`) or of
plain URL slugs (split on spaces), each distinct word numbered once, in one pass over the Arrow
buffers. Rows outside those cases are left to the Polars path (`features._token_entries`).

Non-ASCII captions read each code point's classes from a table filled by the regex engine
itself (`CodepointClasses`: Polars' regex on the character alone, the first time a code point
is seen), so the compiled split and the regex agree by construction."""

from __future__ import annotations

import numpy as np

from childguard._numba import nb
from childguard.detect._textnorm_jit import _decode

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)

CAPTION = 0  # `@[\w.]{2,}|[^\W\d_]+|[0-9]+`, leftmost first
SLUG = 1  # runs of non-spaces, on rows of printable ASCII and spaces only

# a code point's classes in the table: seen, `[^\W\d_]` (a word letter), `[\w.]` (a handle's)
KNOWN, LETTER, HANDLE = 1, 2, 4
UNKNOWN_ROW = 2  # `words`' flag of a row with a code point the table does not hold yet


@nb.njit(cache=True, nogil=True, inline="always")
def _letter(c):
    return (c >= 65 and c <= 90) or (c >= 97 and c <= 122)


@nb.njit(cache=True, nogil=True, inline="always")
def _digit(c):
    return c >= 48 and c <= 57


@nb.njit(cache=True, nogil=True, inline="always")
def _handle_char(c):
    return _letter(c) or _digit(c) or c == 95 or c == 46  # "_" "."


@nb.njit(cache=True, nogil=True)
def _next_word(data, i, b):
    """(start, end) of the first caption word at or after i (start -1: none before b)."""
    while i < b:
        c = data[i]
        if c == 64:  # "@" and at least 2 handle characters, greedy
            j = i + 1
            while j < b and _handle_char(data[j]):
                j += 1
            if j - i - 1 >= 2:
                return i, j
            i += 1
            continue
        if _letter(c):
            j = i + 1
            while j < b and _letter(data[j]):
                j += 1
            return i, j
        if _digit(c):
            return i, _digits_end(data, i, b)
        i += 1
    return -1, b


@nb.njit(cache=True, nogil=True, inline="always")
def _char(data, i):
    """(code point, byte length) of the UTF-8 character at `i` (valid UTF-8)."""
    if data[i] < 0x80:
        return np.int64(data[i]), 1
    return _decode(data, i)


@nb.njit(cache=True, nogil=True, inline="always")
def _digits_end(data, i, b):
    """The end of the run of ASCII digits that starts at `i`."""
    j = i + 1
    while j < b and _digit(data[j]):
        j += 1
    return j


@nb.njit(cache=True, nogil=True)
def _next_word_unicode(data, i, b, table):
    """`_next_word` with Unicode classes from `table` (every code point of the row known)."""
    while i < b:
        cp, k = _char(data, i)
        if cp == 64:
            j = i + 1
            count = 0
            while j < b:
                c2, k2 = _char(data, j)
                if not table[c2] & HANDLE:
                    break
                j += k2
                count += 1
            if count >= 2:
                return i, j
            i += 1
            continue
        if table[cp] & LETTER:
            j = i + k
            while j < b:
                c2, k2 = _char(data, j)
                if not table[c2] & LETTER:
                    break
                j += k2
            return i, j
        if _digit(cp):
            return i, _digits_end(data, i, b)
        i += k
    return -1, b


@nb.njit(cache=True, nogil=True)
def unknown_codepoints(offsets, data, null, table):
    """The code points of the column that `table` does not hold yet (sorted, unique)."""
    seen = np.zeros(table.shape[0], np.bool_)
    for r in range(offsets.shape[0] - 1):
        if null[r]:
            continue
        i = offsets[r]
        while i < offsets[r + 1]:
            cp, k = _char(data, i)
            if not table[cp] & KNOWN:
                seen[cp] = True
            i += k
    return np.flatnonzero(seen)


@nb.njit(cache=True, nogil=True, inline="always")
def _same_in(d1, a1, b1, d2, a2, b2):
    if b1 - a1 != b2 - a2:
        return False
    for k in range(b1 - a1):  # noqa: SIM110 (numba: no generators)
        if d1[a1 + k] != d2[a2 + k]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def words(offsets, data, null, mode, table, slot, w_off, w_data, w_h, nw, stamp, local, cur):
    """(row, pos, word number) of every word of the eligible rows, in (row, pos) order, with
    pos = 1000 x the word's place in its row and words numbered in order of first sight in
    this call (`glob`: each one's number in the interner); a flag for each row left out: 1
    for the Polars path (slugs of other bytes), UNKNOWN_ROW for a caption with a code point
    that `table` does not hold yet; the interner's slots (maybe grown) and word count.

    The interner (slot, w_off, w_data, w_h, nw) holds every word seen in earlier calls; the
    caller makes room for this column's words first (`Interner.reserve`). stamp/local: the
    call (`cur`) that last saw each interned word, and its number there."""
    n = offsets.shape[0] - 1
    cap = offsets[n] - offsets[0] + 1
    out_row = np.empty(cap, np.int64)
    out_pos = np.empty(cap, np.int64)
    out_e = np.empty(cap, np.int64)
    glob = np.empty(cap, np.int64)
    other = np.zeros(n, np.uint8)
    size = slot.shape[0]
    n_local = 0
    k = 0
    for r in range(n):
        if null[r]:
            continue
        a = offsets[r]
        b = offsets[r + 1]
        ascii_ = True
        for i in range(a, b):
            c = data[i]
            if c >= 128 or (mode == SLUG and (c < 32 or c == 127)):
                ascii_ = False
                break
        if not ascii_:
            if mode == SLUG:
                other[r] = 1
                continue
            i = a
            while i < b:
                cp, width = _char(data, i)
                if not table[cp] & KNOWN:
                    other[r] = UNKNOWN_ROW
                    break
                i += width
            if other[r]:
                continue
        if mode == SLUG:  # stripped, then split on every space: empty pieces count places
            while a < b and data[a] == 32:
                a += 1
            while b > a and data[b - 1] == 32:
                b -= 1
        i = a
        place = -1
        while i < b:
            if mode == SLUG:
                s = i
                e = i
                while e < b and data[e] != 32:
                    e += 1
                i = e + 1
                place += 1
                if e == s:
                    continue
            else:
                if ascii_:
                    s, e = _next_word(data, i, b)
                else:
                    s, e = _next_word_unicode(data, i, b, table)
                if s < 0:
                    break
                i = e
                place += 1
            h = _FNV_OFFSET
            for q in range(s, e):
                h ^= np.uint64(data[q])
                h *= _FNV_PRIME
            m = np.uint64(size - 1)
            t = np.int64(h & m)
            while slot[t] >= 0:
                w = slot[t]
                if w_h[w] == h and _same_in(w_data, w_off[w], w_off[w + 1], data, s, e):
                    break
                t = (t + 1) & (size - 1)
            w = slot[t]
            if w < 0:
                w = nw
                w_off[w + 1] = w_off[w] + e - s
                w_data[w_off[w] : w_off[w + 1]] = data[s:e]
                w_h[w] = h
                nw += 1
                slot[t] = w
                if 2 * nw > size:  # grow: re-place every word
                    size *= 2
                    slot = np.full(size, -1, np.int64)
                    m = np.uint64(size - 1)
                    for x in range(nw):
                        t = np.int64(w_h[x] & m)
                        while slot[t] >= 0:
                            t = (t + 1) & (size - 1)
                        slot[t] = x
            if stamp[w] != cur:
                stamp[w] = cur
                local[w] = n_local
                glob[n_local] = w
                n_local += 1
            out_row[k] = r
            out_pos[k] = place * 1000
            out_e[k] = local[w]
            k += 1
    return out_row[:k], out_pos[:k], out_e[:k], glob[:n_local], other, slot, nw


class CodepointClasses:
    """Each code point's classes (KNOWN, LETTER, HANDLE) as the regex engine sees them, filled
    as code points are first seen (one table per process)."""

    def __init__(self) -> None:
        """An empty table, ASCII filled."""
        self.table = np.zeros(0x110000, np.uint8)
        self.fill(np.arange(128))

    def fill(self, cps: np.ndarray) -> None:
        """Classify these code points with Polars' regex on each character alone."""
        import polars as pl

        chars = pl.Series([chr(c) for c in cps.tolist()], dtype=pl.String)
        letter = chars.str.contains(r"^[^\W\d_]$").to_numpy()
        handle = chars.str.contains(r"^[\w.]$").to_numpy()
        self.table[cps] = KNOWN | np.where(letter, LETTER, 0) | np.where(handle, HANDLE, 0)


_CLASSES: list[CodepointClasses] = []


class Interner:
    """Every distinct word a process's calls have split, numbered once (bytes, hashes and
    open-addressing slots kept between calls), so that a word's table row is made once."""

    MAX_WORDS = 1 << 18  # then start again: memory stays bounded (~25 MB; URL ids are all new)

    def __init__(self) -> None:
        """No words."""
        self.slot = np.full(1024, -1, np.int64)
        self.w_off = np.zeros(1025, np.int64)
        self.w_data = np.zeros(1 << 16, np.uint8)
        self.w_h = np.zeros(1024, np.uint64)
        self.stamp = np.full(1024, -1, np.int64)
        self.local = np.zeros(1024, np.int64)
        self.nw = 0
        self.calls = 0

    def reserve(self, words: int, size: int) -> None:
        """Room for `words` more words of `size` bytes in all."""
        need = self.nw + words
        if need > len(self.w_h):
            cap = max(need, 2 * len(self.w_h))
            self.w_off = _grown(self.w_off, cap + 1)
            self.w_h = _grown(self.w_h, cap)
            self.stamp = _grown(self.stamp, cap, -1)
            self.local = _grown(self.local, cap)
        used = int(self.w_off[self.nw])
        if used + size > len(self.w_data):
            self.w_data = _grown(self.w_data, max(used + size, 2 * len(self.w_data)))

    def words(self, offsets, data, null, mode, table):
        """`words` of one column against this interner (its state updated)."""
        self.reserve(int(offsets[-1] - offsets[0]) + 1, int(offsets[-1] - offsets[0]))
        self.calls += 1
        r, p, e, glob, other, slot, nw = words(
            offsets, data, null, mode, table, self.slot, self.w_off, self.w_data, self.w_h,
            self.nw, self.stamp, self.local, self.calls,
        )  # fmt: skip
        self.slot, self.nw = slot, nw
        return r, p, e, glob, other

    def strings(self, start: int, stop: int):
        """Words start..stop-1 as (int64 offsets from 0, bytes)."""
        off = self.w_off[start : stop + 1]
        return off - off[0], self.w_data[off[0] : off[-1]]


def _grown(a: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    out = np.full(n, fill, a.dtype)
    out[: len(a)] = a
    return out


def split(offsets, data, null, mode, interner: Interner):
    """`words` with the process's code point table, filled first where a caption needs it."""
    if not _CLASSES:
        _CLASSES.append(CodepointClasses())
    cls = _CLASSES[0]
    if mode == CAPTION:
        unknown = unknown_codepoints(offsets, data, null, cls.table)
        if len(unknown):
            cls.fill(unknown)
    return interner.words(offsets, data, null, mode, cls.table)


def warm() -> None:
    """Compile the kernels (or load them from numba's cache) on a few rows of each mode."""
    text = "my son @ab_c9a b  1x\x00 é @ßa ٥".encode()
    off = np.array([0, 13, 13, len(text)], np.int64)
    data = np.frombuffer(text, np.uint8)
    null = np.array([0, 1, 0], np.uint8)
    for mode in (CAPTION, SLUG):
        split(off, data, null, mode, Interner())
