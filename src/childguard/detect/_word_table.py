"""Word classes of every token of a few rows at once: a vectorised join against a word table.

The names detector asks, for each context row, which of its tokens are names, kinship words,
ages and so on, and which of them sit within a few tokens of each other. Done per row in
Python that costs ~10 µs a row; here all rows' tokens are looked up at once, and every hash
match is checked against the table's word, so a collision never gives a word a class it does
not have. Compiled (`_word_table_jit`: one pass over the Arrow buffers, an open-addressing
table) where textnorm runs compiled; else the tokens are exploded into one Polars column,
hashed and looked up in the table's sorted hashes (numpy `searchsorted`). Same tokens, same bits.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect._util import take_rows

_SEED = 0x5EED


class WordTable:
    """word -> class bits (an int bit mask per word; several classes OR together)."""

    def __init__(self, classes: dict[str, int]) -> None:
        keep = {w: b for w, b in classes.items() if w and " " not in w}
        words = pl.Series(list(keep), dtype=pl.String)
        bits = np.fromiter(keep.values(), np.int64, len(keep))
        seed = _SEED
        while True:  # a seed under which no two table words share a hash
            h = words.hash(seed).to_numpy()
            order = np.argsort(h)
            h = h[order]
            if not (h[1:] == h[:-1]).any():
                break
            seed += 1
        self._set(words.gather(order), h, bits[order], seed)

    def _set(self, words: pl.Series, hashes: np.ndarray, bits: np.ndarray, seed: int) -> None:
        self._seed = seed
        self._hash = hashes
        self._words = words
        # a writable copy, whether built or read back (read-only): the compiled lookup takes
        # it as an argument, and numba compiles once per argument type
        self._bits = np.array(bits, np.int64)
        self._jit: tuple | None = None  # the compiled lookup's table, built on first use

    def to_arrow(self) -> pa.Table:
        """The table as Arrow (words in hash order, their hashes and bits; the seed in the
        schema metadata): what `from_arrow` reads back (`_table_cache`)."""
        # through Polars: pa.array on numpy imports pandas (0.15 s a process)
        frame = pl.DataFrame(
            {"word": self._words, "hash": pl.Series(self._hash), "bits": pl.Series(self._bits)}
        )
        return frame.to_arrow().replace_schema_metadata({"seed": str(self._seed)})

    @classmethod
    def from_arrow(cls, table: pa.Table) -> WordTable:
        """A table `to_arrow` wrote, without hashing or sorting again."""
        meta = table.schema.metadata or {}
        if b"seed" not in meta or table.column_names != ["word", "hash", "bits"]:
            raise ValueError("not a word table")
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.schema != {"word": pl.String, "hash": pl.UInt64, "bits": pl.Int64}:
            raise ValueError("not a word table")
        self = cls.__new__(cls)
        hashes, bits = frame["hash"].to_numpy(), frame["bits"].to_numpy()
        self._set(frame["word"], hashes, bits, int(meta[b"seed"]))
        return self

    def same_as(self, other: WordTable) -> bool:
        """Same words, hashes, bits and seed (a cached table against a fresh build)."""
        return (
            self._seed == other._seed
            and self._words.equals(other._words)
            and np.array_equal(self._hash, other._hash)
            and np.array_equal(self._bits, other._bits)
        )

    def tokens(self, col: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> Tokens:
        """The space-separated tokens of `col[rows]` (empty ones dropped, as `str.split()`
        does on textnorm's columns) with their class bits; compiled where textnorm is."""
        from childguard.detect import textnorm

        if textnorm.backend() == "numba":
            got = self._tokens_numba(col, rows)
            if got is not None:
                return got
        return self._tokens_polars(col, rows)

    def _tokens_numba(self, col: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> Tokens | None:
        from childguard.detect import _textnorm_jit, _word_table_jit

        arr = _textnorm_jit._string_array(col)
        if arr is None:
            return None
        if self._jit is None:
            woff, wdata, _ = _textnorm_jit._buffers(self._words.to_arrow().cast(pa.large_string()))
            self._jit = (woff, wdata, self._bits, *_word_table_jit.build(woff, wdata))
        off, data, null = _textnorm_jit._buffers(arr)
        row, bits = _word_table_jit.lookup(off, data, null, rows.astype(np.int64), *self._jit)
        return Tokens(len(rows), row, bits)

    def _tokens_polars(self, col: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> Tokens:
        s = pl.from_arrow(take_rows(col, rows))
        assert isinstance(s, pl.Series)
        lists = s.cast(pl.String).fill_null("").str.split(" ")
        flat = lists.explode()
        row = np.repeat(np.arange(len(s), dtype=np.int64), lists.list.len().to_numpy())
        keep = (flat.str.len_bytes() > 0).fill_null(False).to_numpy()
        flat = flat.filter(pl.Series(keep))
        row = row[keep]
        bits = np.zeros(len(flat), np.int64)
        if len(flat) and len(self._hash):
            h = flat.hash(self._seed).to_numpy()
            pos = np.minimum(np.searchsorted(self._hash, h), len(self._hash) - 1)
            hit = np.flatnonzero(self._hash[pos] == h)
            same = (self._words.gather(pos[hit]) == flat.gather(hit)).to_numpy()
            hit = hit[same]
            bits[hit] = self._bits[pos[hit]]
        return Tokens(len(s), row, bits)


def warm_compiled(col: pa.Array) -> None:
    """Compile (or load from numba's cache) the compiled lookup: `textnorm.warm_compiled`."""
    WordTable({"lucas": 1, "filho": 2})._tokens_numba(col, np.arange(len(col)))


class Tokens:
    """Tokens of several rows in one flat array: `row[i]` owns token i (rows in order)."""

    def __init__(self, n_rows: int, row: np.ndarray, bits: np.ndarray) -> None:
        self.n_rows = n_rows
        self.row = row
        self.bits = bits

    def has(self, mask: int) -> np.ndarray:
        """Per row: does any token carry one of the classes in `mask`?"""
        hit = (self.bits & mask) != 0
        return np.bincount(self.row[hit], minlength=self.n_rows) > 0

    def near(self, mask: int, other: int, offsets: range | tuple[int, ...]) -> np.ndarray:
        """Per row: a token of class `mask` with a token of class `other` at one of `offsets`
        (token positions relative to it, 0 itself) in the same row."""
        a = (self.bits & other) != 0
        close = np.zeros(len(a), bool)
        row = self.row
        for d in offsets:
            if d == 0:
                close |= a
            elif abs(d) < len(row):
                same = row[: -abs(d)] == row[abs(d) :]
                if d > 0:
                    close[:-d] |= a[d:] & same
                else:
                    close[-d:] |= a[:d] & same
        hit = close & ((self.bits & mask) != 0)
        return np.bincount(row[hit], minlength=self.n_rows) > 0

    def followed(self, first: int, then_not: int) -> np.ndarray:
        """Per row: a token of class `first` followed, in the same row, by a token of none of
        the classes in `then_not`."""
        row = self.row
        if len(row) < 2:
            return np.zeros(self.n_rows, bool)
        ok = (
            ((self.bits[:-1] & first) != 0)
            & ((self.bits[1:] & then_not) == 0)
            & (row[:-1] == row[1:])
        )
        return np.bincount(row[:-1][ok], minlength=self.n_rows) > 0
