"""`WordTable`'s lookup compiled (numba): tokens of Arrow string rows against an open-addressing
table of the words, bytes compared on every hash match, in one pass over the buffers."""

from __future__ import annotations

import numpy as np

from childguard._numba import nb

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@nb.njit(cache=True, nogil=True, inline="always")
def _fnv(data, a, b):
    h = _FNV_OFFSET
    for i in range(a, b):
        h ^= np.uint64(data[i])
        h *= _FNV_PRIME
    return h


@nb.njit(cache=True, nogil=True)
def build(offsets, data):
    """(slot -> word index or -1, slot -> hash) for the words `data[offsets[w]:offsets[w+1]]`."""
    n = offsets.shape[0] - 1
    size = 16
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slot_word = np.full(size, -1, np.int64)
    slot_hash = np.zeros(size, np.uint64)
    for w in range(n):
        h = _fnv(data, offsets[w], offsets[w + 1])
        s = np.int64(h & mask)
        while slot_word[s] >= 0:
            s = (s + 1) & (size - 1)
        slot_word[s] = w
        slot_hash[s] = h
    return slot_word, slot_hash


@nb.njit(cache=True, nogil=True)
def lookup(offsets, data, null, rows, woff, wdata, wbits, slot_word, slot_hash):
    """(owner of each token: its position in `rows`, class bits of each token) for the
    space-separated tokens of the rows `rows` (empty tokens skipped)."""
    cap = 1
    for r in rows:
        if not null[r]:
            cap += (offsets[r + 1] - offsets[r]) // 2 + 1
    out_row = np.empty(cap, np.int64)
    out_bits = np.zeros(cap, np.int64)
    size = slot_word.shape[0]
    k = 0
    for q in range(rows.shape[0]):
        r = rows[q]
        if null[r]:
            continue
        i = offsets[r]
        b = offsets[r + 1]
        while i < b:
            if data[i] == 32:
                i += 1
                continue
            j = i
            while j < b and data[j] != 32:
                j += 1
            h = _fnv(data, i, j)
            s = np.int64(h & np.uint64(size - 1))
            bits = 0
            while slot_word[s] >= 0:
                if slot_hash[s] == h:
                    w = slot_word[s]
                    a0 = woff[w]
                    if woff[w + 1] - a0 == j - i:
                        same = True
                        for t in range(j - i):
                            if wdata[a0 + t] != data[i + t]:
                                same = False
                                break
                        if same:
                            bits = wbits[w]
                            break
                s = (s + 1) & (size - 1)
            out_row[k] = q
            out_bits[k] = bits
            k += 1
            i = j
    return out_row[:k], out_bits[:k]
