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

from urllib.parse import unquote

import polars as pl
import pyarrow as pa

NORM_COLUMNS = ("text_norm", "url_words", "url_host", "both_norm")

# Letters NFKD does not decompose into a base letter plus a mark.
_FOLD = {
    "ł": "l",
    "ß": "ss",
    "ı": "i",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ħ": "h",
    "ŀ": "l",
}
_FOLD_FROM = list(_FOLD)
_FOLD_TO = list(_FOLD.values())

_URL_SPLIT = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?(?://)?([^/?#]*)([^?#]*)"
_IMG_EXT = r"(?i)\.(?:jpe?g|png|gif|webp|bmp|tiff?|svg|avif|heic|jfif)(?:$|[/._-])"
# Path tokens that are IDs, not words: digit-letter-digit runs (hex hashes, CDN keys such as
# `AVvXsEhQ8mZ2kLp4`) and dense mixed case (`AbCdEfGhIjKlMnOp`); split, they read as words.
_ID_TOKEN = r"[0-9][A-Za-z]+[0-9]|[A-Za-z][0-9]+[A-Za-z]+[0-9]|[a-z][A-Z].*[0-9]|[0-9].*[a-z][A-Z]"
_SIZE = r"(?i)(?:^|[-_./ ])\d{2,5}x\d{2,5}(?:nw)?(?:$|[-_./ ])"


def _fold(expr: pl.Expr) -> pl.Expr:
    """Lower-case, fold accents, split letters from digits, non-word characters to spaces."""
    return (
        expr.str.to_lowercase()
        .str.normalize("NFKD")
        # strip Latin/Cyrillic diacritics only; kana voicing marks are letters' identity
        # (ベッド bed vs ペット pet), so recompose those with NFC
        .str.replace_all(r"[\x{0300}-\x{036F}]+", "")
        .str.normalize("NFC")
        .str.replace_many(_FOLD_FROM, _FOLD_TO)
        # ideographic iteration mark etc. are letters; CJK punctuation is not
        .str.replace_all(r"(\p{N})(\p{L})", "$1 $2")
        .str.replace_all(r"(\p{L})(\p{N})", "$1 $2")
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
    )


def _pad(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(" "), expr.str.strip_chars(" "), pl.lit(" ")]).alias("s")


def normalize_series(s: pl.Series) -> pl.Series:
    """Normalise captions (or terms) exactly as `text_norm` does, padding included."""
    return pl.DataFrame({"s": s}).select(_pad(_fold(pl.col("s").fill_null(""))))["s"]


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
    # data: URIs carry base64 bytes, not words
    df = pl.DataFrame({"u": url.fill_null("")}).with_columns(
        pl.when(pl.col("u").str.contains(";base64,", literal=True))
        .then(pl.lit(""))
        .otherwise(pl.col("u"))
    )
    parts = df.select(
        pl.col("u").str.extract(_URL_SPLIT, 1).fill_null("").alias("host"),
        pl.col("u").str.extract(_URL_SPLIT, 2).fill_null("").alias("path"),
    )
    path = _decode_percent(parts["path"])
    out = pl.DataFrame({"host": parts["host"], "path": path}).select(
        _pad(_fold(pl.col("host").str.replace(r":\d+$", ""))).alias("host"),
        _pad(
            _fold(
                pl.col("path")
                .str.replace_all(_IMG_EXT, " ")
                .str.replace_all(_SIZE, " ")
                .str.replace_all(_SIZE, " ")  # overlapping neighbours: `-300x200-150x150`
                .str.replace_all(r"[/_.,;:=+~!()\[\]-]+", " ")
                .str.split(" ")
                .list.eval(
                    pl.element().filter(
                        ~pl.element().str.contains(_ID_TOKEN)
                        & ~(
                            (pl.element().str.count_matches("[A-Z]") >= 4)
                            & (
                                pl.element().str.len_chars()
                                <= 2.5 * pl.element().str.count_matches("[A-Z]")
                            )
                        )
                    )
                )
                .list.join(" ")
                .str.replace_all(r"(\p{Ll})(\p{Lu})", "$1 $2")
            )
        ).alias("path"),
    )
    return out["host"], out["path"]


def prepare(batch: pa.Table) -> pa.Table:
    """Add the shared normalised columns (see module docstring) once per batch."""
    if "text_norm" in batch.column_names:
        return batch
    text = pl.from_arrow(batch.column("text"))
    url = pl.from_arrow(batch.column("url"))
    assert isinstance(text, pl.Series) and isinstance(url, pl.Series)
    text_norm = normalize_series(text.cast(pl.String))
    host, path = url_parts(url.cast(pl.String))
    both = text_norm + path
    for name, col in (
        ("text_norm", text_norm),
        ("url_words", path),
        ("url_host", host),
        ("both_norm", both),
    ):
        batch = batch.append_column(name, col.to_arrow().cast(pa.string()))
    return batch
