"""URL normalisation and the hashes every part of childguard joins on.

`url_sha256` (hex SHA-256 of the normalised URL) is the cross-copy identity of a row; takedown
lists, findings and manifests speak in it. `laion_hash` is LAION's own `hash` column.

Normalisation (RFC 3986 section 6 plus common web rewrites): scheme and host lower-cased, host
IDNA-encoded, trailing dot and default port dropped, dot segments removed, percent-encoding of
unreserved characters decoded and other escapes upper-cased, non-ASCII percent-encoded as UTF-8,
empty path becomes "/", fragment dropped, query kept.

Columns go through a vectorised fast path: URLs that are already normal (the vast majority) are
only stripped of their fragment; the few that are not take the exact per-row path. A test
asserts both paths agree.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

import mmh3
import numpy as np
import polars as pl
import pyarrow as pa

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
# Characters that may stay literal in a path/query; everything else is percent-encoded.
_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%"
)

# A URL that matches this and not _FAST_NEEDS_WORK is already normal up to its fragment.
_FAST_OK = r"^https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?:[/?#]|$)"
_EMPTY_PATH = r"^(https?://[^/?]+)(\?|$)"
_FAST_NEEDS_WORK = r"[^\x21-\x7e]|%|[\\\[\]{}|^`\"<>]|/\.\.?(?:[/?#]|$)"


def _fix_percent(s: str) -> str:
    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    s = _PCT.sub(repl, s)
    out = []
    for i, ch in enumerate(s):
        if ch in _SAFE:
            if ch == "%" and not _PCT.match(s, i):
                out.append("%25")
            else:
                out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _idna_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        # Labels the stdlib IDNA 2003 codec rejects: encode label by label with punycode.
        return ".".join(
            lab if lab.isascii() else "xn--" + lab.encode("punycode").decode("ascii")
            for lab in host.split(".")
        )


def normalize_url(url: str | None) -> str | None:
    """Normalise one URL. None stays None; text that is not a URL is only stripped."""
    if url is None:
        return None
    url = url.strip()
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if not parts.netloc:
        # Not an absolute URL (or an opaque one): keep it, minus the fragment.
        return _fix_percent(url.split("#", 1)[0])
    netloc = parts.netloc
    userinfo = ""
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        userinfo += "@"
    host, port = netloc, ""
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        host, port = netloc[: end + 1], netloc[end + 1 :].lstrip(":")
    elif ":" in netloc:
        host, port = netloc.rsplit(":", 1)
    host = _idna_host(_PCT.sub(lambda m: chr(int(m.group(1), 16)), host))
    if port and port.isdigit() and int(port) == _DEFAULT_PORTS.get(scheme):
        port = ""
    elif port and not port.isdigit():
        port = ""
    netloc = userinfo + host + (":" + port if port else "")
    path = _remove_dot_segments(_fix_percent(parts.path))
    if not path and scheme in ("http", "https"):
        path = "/"
    query = _fix_percent(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _slow_normalize(s: pl.Series) -> pl.Series:
    return pl.Series(s.name, [normalize_url(u) for u in s.to_list()], dtype=pl.String)


def normalize_url_column(urls: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
    """Vectorised `normalize_url` over a column (nulls stay null)."""
    s = urls if isinstance(urls, pl.Series) else pl.Series("url", urls)
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    fast = s.str.contains(_FAST_OK) & ~s.str.contains(_FAST_NEEDS_WORK)
    fast = fast.fill_null(False)
    # Only rows with a fragment, a trailing "?" or an empty path change below; finding them
    # with cheap tests and rewriting just those is ~2x faster than rewriting every row.
    touch = (
        s.str.contains("#", literal=True) | s.str.ends_with("?") | s.str.contains(_EMPTY_PATH)
    ).fill_null(False)
    out = s.clone()  # scatter works in place: never on the caller's Series
    if touch.any():
        idx = touch.arg_true()
        fixed = (
            s.gather(idx)
            .str.replace(r"#.*$", "")
            # an empty query ("a.jpg?") is dropped, as urlunsplit does on the per-row path
            .str.replace(r"\?$", "")
            # empty path -> "/" (before a query, or at the end)
            .str.replace(_EMPTY_PATH, "${1}/${2}")
        )
        out = out.scatter(idx, fixed)
    if fast.all():
        return out.rename("url_norm")
    slow_idx = (~fast).arg_true()
    slow_vals = _slow_normalize(s.gather(slow_idx))
    out = out.scatter(slow_idx, slow_vals)
    return out.rename("url_norm")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def url_sha256(url: str | None) -> str | None:
    """Hex SHA-256 of the normalised URL: the row identity lists and manifests share."""
    norm = normalize_url(url)
    return None if norm is None else sha256_hex(norm)


def sha256_column(values: pl.Series) -> pl.Series:
    """Hex SHA-256 of every string in a column (nulls stay null).

    Hashes the column's UTF-8 bytes directly (no per-row `str.encode`): `apply` runs this over
    every row of a downstream copy."""
    sha = hashlib.sha256
    raw = values.cast(pl.String).cast(pl.Binary).to_list()
    return pl.Series(
        "sha256", [None if b is None else sha(b).hexdigest() for b in raw], dtype=pl.String
    )


def url_sha256_column(urls: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
    return sha256_column(normalize_url_column(urls)).rename("url_sha256")


def url_sha256_digests(
    urls: pa.Array | pa.ChunkedArray | pl.Series,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw SHA-256 digests of the normalised URLs: ((n, 32) uint8, valid mask).

    For bulk matching against lists: skips the hex round trip of `url_sha256_column` (about
    twice as fast). Null URLs get a zero digest and valid=False."""
    norm = normalize_url_column(urls)
    valid = norm.is_not_null().to_numpy()
    sha = hashlib.sha256
    # UTF-8 bytes straight from the column (no per-row str.encode): the hot loop of list matching
    raw = norm.cast(pl.Binary).to_list()
    if valid.all():
        blob = b"".join([sha(b).digest() for b in raw])
    else:
        zero = bytes(32)
        blob = b"".join([zero if b is None else sha(b).digest() for b in raw])
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, 32), valid


def laion_hash(url: str | None, text: str | None) -> int:
    """LAION's `hash` column: mmh3.hash64((URL + TEXT).encode())[0], a signed int64."""
    return mmh3.hash64(((url or "") + (text or "")).encode("utf-8", "surrogatepass"))[0]


def laion_hash_column(urls: pl.Series, texts: pl.Series) -> pl.Series:
    return pl.Series(
        "laion_hash",
        [laion_hash(u, t) for u, t in zip(urls.to_list(), texts.to_list(), strict=True)],
        dtype=pl.Int64,
    )
