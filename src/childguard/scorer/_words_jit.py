"""The scorer's word split compiled (numba): the words of ASCII captions (`_WORD_ASCII`) or of
plain URL slugs (split on spaces), each distinct word numbered once, in one pass over the Arrow
buffers. Rows outside those cases are left to the Polars path (`features._token_entries`)."""

from __future__ import annotations

import numba as nb
import numpy as np

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)

CAPTION = 0  # `@[A-Za-z0-9_.]{2,}|[A-Za-z]+|[0-9]+`, leftmost first, on ASCII rows
SLUG = 1  # runs of non-spaces, on rows of printable ASCII and spaces only


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
            j = i + 1
            while j < b and _digit(data[j]):
                j += 1
            return i, j
        i += 1
    return -1, b


@nb.njit(cache=True, nogil=True)
def _same(data, a1, b1, a2, b2):
    if b1 - a1 != b2 - a2:
        return False
    for k in range(b1 - a1):  # noqa: SIM110 (numba: no generators)
        if data[a1 + k] != data[a2 + k]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def words(offsets, data, null, mode):
    """(row, pos, word number) of every word of the eligible rows, in (row, pos) order, with
    pos = 1000 x the word's place in its row; the distinct words as (offsets, bytes); and a
    flag for each row left to the Polars path (non-ASCII, or for slugs other bytes)."""
    n = offsets.shape[0] - 1
    cap = offsets[n] - offsets[0] + 1
    out_row = np.empty(cap, np.int64)
    out_pos = np.empty(cap, np.int64)
    out_e = np.empty(cap, np.int64)
    other = np.zeros(n, np.uint8)
    w_a = np.empty(cap, np.int64)  # each distinct word's bytes in `data`
    w_b = np.empty(cap, np.int64)
    w_h = np.empty(cap, np.uint64)
    size = 1024
    slot = np.full(size, -1, np.int64)
    nw = 0
    k = 0
    for r in range(n):
        if null[r]:
            continue
        a = offsets[r]
        b = offsets[r + 1]
        ok = True
        for i in range(a, b):
            c = data[i]
            if c >= 128 or (mode == SLUG and (c < 32 or c == 127)):
                ok = False
                break
        if not ok:
            other[r] = 1
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
                s, e = _next_word(data, i, b)
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
                if w_h[w] == h and _same(data, w_a[w], w_b[w], s, e):
                    break
                t = (t + 1) & (size - 1)
            w = slot[t]
            if w < 0:
                w = nw
                w_a[w], w_b[w], w_h[w] = s, e, h
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
            out_row[k] = r
            out_pos[k] = place * 1000
            out_e[k] = w
            k += 1
    woff = np.zeros(nw + 1, np.int64)
    for w in range(nw):
        woff[w + 1] = woff[w] + w_b[w] - w_a[w]
    wdata = np.empty(woff[nw], np.uint8)
    for w in range(nw):
        wdata[woff[w] : woff[w + 1]] = data[w_a[w] : w_b[w]]
    return out_row[:k], out_pos[:k], out_e[:k], other, woff, wdata


def warm() -> None:
    """Compile `words` (or load it from numba's cache) on a few rows of each mode."""
    off = np.array([0, 13, 13, 22], np.int64)
    data = np.frombuffer(b"my son @ab_c9a b  1x\x00 ", np.uint8)
    null = np.array([0, 1, 0], np.uint8)
    for mode in (CAPTION, SLUG):
        words(off, data, null, mode)
