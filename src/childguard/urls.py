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


# The version of `normalize_url` (so of every `url_sha256`): bump it with any change to what
# it returns. run.json, manifest.json and list stores record it, and childguard refuses to
# join hashes made with another version (a changed normaliser silently changes every hash).
URL_NORM_VERSION = 1


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
    """Hex SHA-256 of a string's UTF-8 bytes (lone surrogates allowed)."""
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
    """Column `url_sha256`: hex SHA-256 of each normalised URL (nulls stay null)."""
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
    """Column `laion_hash`: LAION's int64 hash of each URL + caption pair."""
    return pl.Series(
        "laion_hash",
        [laion_hash(u, t) for u, t in zip(urls.to_list(), texts.to_list(), strict=True)],
        dtype=pl.Int64,
    )


# --- list keys: a Safe-Browsing-style canonical form for matching takedown lists ------------
#
# `url_sha256` is the published identity of a row and keeps its RFC 3986 normalisation.
# Matching a row against a takedown list (or a guardian's URL) is a different job: a copy of
# the dataset may spell a listed URL another way on purpose (`%2525...`, `http://3279880203/`,
# `HTTP://Host.COM//a/./b`). `list_key` follows Google Safe Browsing's canonicalisation
# (developers.google.com/safe-browsing/v4/urls-hashing):
#   1. strip surrounding whitespace; remove tab, CR and LF; drop the fragment (first `#`);
#   2. no scheme: `http://` is added; scheme lower-cased;
#   3. percent-unescape the whole URL repeatedly until nothing changes (bytes, not text);
#   4. host: userinfo dropped, dots trimmed and collapsed, IPv4 in any form (decimal, octal,
#      hex, 1-4 parts) as four decimals, lower-cased, non-ASCII UTF-8 hosts IDNA-encoded;
#   5. path: `.`/`..` resolved, runs of `/` collapsed, empty path `/`; the query is kept as is;
#   6. one escape form out: bytes <= 0x20, >= 0x7F, `#` and `%` as upper-case `%XX`.
# One documented difference: Safe Browsing drops every port; a port here is part of a
# dataset URL's identity, so only the scheme's default port is dropped.
LIST_KEY_VERSION = "sb1"

_HEXPCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_CTRL = re.compile(rb"[\t\r\n]")
_ESC_BYTES = frozenset(list(range(0, 0x21)) + list(range(0x7F, 0x100)) + [0x23, 0x25])
# already canonical (most dataset URLs): the key is the URL itself, no per-row work
_KEY_FAST = (
    r"^https?://(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"/[A-Za-z0-9._~!$&'()*+,;=:@/?-]*$"
)
_KEY_FAST_BAD = r"//.*|/\.{1,2}(?:[/?]|$)|\.\.|\.\/|-\.|\.-|\.$"


def _unescape_all(b: bytes) -> bytes:
    for _ in range(64):  # each pass shortens the string; 64 unwraps any real evasion
        nb = _HEXPCT.sub(lambda m: bytes([int(m.group(1), 16)]), b)
        if nb == b:
            return b
        b = nb
    return b


def _escape(b: bytes) -> str:
    return "".join(f"%{c:02X}" if c in _ESC_BYTES else chr(c) for c in b)


def _ipv4(host: str) -> str | None:
    """inet_aton's reading of a host (`3279880203`, `0xc3.0177.0.11`, `195.127.11`), or None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    nums = []
    for p in parts:
        if not p:
            return None
        try:
            if p.lower().startswith("0x"):
                v = int(p[2:] or "0", 16)
            elif len(p) > 1 and p.startswith("0"):
                v = int(p, 8)
            else:
                v = int(p, 10)
        except ValueError:
            return None
        nums.append(v)
    *head, last = nums
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(nums)):
        return None
    value = 0
    for v in head:
        value = value * 256 + v
    value = value * 256 ** (5 - len(nums)) + last
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def _key_host(raw: bytes) -> str:
    host = raw.strip(b".")
    host = re.sub(rb"\.{2,}", b".", host).lower()
    try:
        text = host.decode("utf-8")
    except UnicodeDecodeError:
        return _escape(host)
    ip = _ipv4(text) if text.isascii() else None
    if ip is not None:
        return ip
    if not text.isascii() and not any(ord(c) < 0x21 for c in text):
        try:
            return _idna_host(text)
        except UnicodeError:
            pass
    return _escape(host)


def _key_path(raw: bytes) -> bytes:
    path = re.sub(rb"/{2,}", b"/", raw) or b"/"
    return _remove_dot_segments(path.decode("latin-1")).encode("latin-1") or b"/"


def list_key(url: str | None) -> str | None:
    """The Safe-Browsing-style key of one URL (see above). None stays None; ''/blank too."""
    if url is None:
        return None
    b = _CTRL.sub(b"", url.strip().encode("utf-8", "surrogatepass"))
    if not b:
        return None
    b = b.split(b"#", 1)[0]
    m = re.match(rb"^([A-Za-z][A-Za-z0-9+.-]*)://", b)
    if m:
        scheme, rest = m.group(1).lower().decode("ascii"), b[m.end() :]
    else:
        scheme, rest = "http", b
    rest = _unescape_all(rest)
    cut = len(rest)
    for sep in (b"/", b"?"):
        i = rest.find(sep)
        if i != -1:
            cut = min(cut, i)
    netloc, tail = rest[:cut], rest[cut:]
    if b"@" in netloc:
        netloc = netloc.rsplit(b"@", 1)[1]
    host, port = netloc, b""
    if not netloc.startswith(b"[") and b":" in netloc:
        host, port = netloc.rsplit(b":", 1)
    path, q, query = tail.partition(b"?")
    key = scheme + "://" + _key_host(host)
    if port.isdigit() and int(port) != _DEFAULT_PORTS.get(scheme):
        key += ":" + str(int(port))
    key += _escape(_key_path(path))
    if q:
        key += "?" + _escape(query)
    return key


def list_key_column(urls: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
    """Vectorised `list_key` (nulls stay null): canonical URLs are their own key; only the
    others (percent escapes, upper-case hosts, odd hosts, dot segments: a few percent of web
    URLs) take the per-row path. A test asserts both paths agree."""
    s = urls if isinstance(urls, pl.Series) else pl.Series("url", urls)
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    after_host = s.str.replace(r"^https?://[^/]*", "")
    fast = (s.str.contains(_KEY_FAST) & ~after_host.str.contains(_KEY_FAST_BAD)).fill_null(False)
    fast = fast & ~s.str.contains(r"^https?://[^/]*(?:\.\.|\.$|\./)").fill_null(False)
    out = s.clone()
    slow = (~fast & s.is_not_null()).arg_true()
    if len(slow):
        vals = pl.Series([list_key(u) for u in s.gather(slow).to_list()], dtype=pl.String)
        out = out.scatter(slow, vals)
    return out.rename("list_key")


def list_key_digests(urls: pa.Array | pa.ChunkedArray | pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Raw SHA-256 digests of the list keys: ((n, 32) uint8, valid mask), as
    `url_sha256_digests` gives for the normalised URLs."""
    keys = list_key_column(urls)
    valid = keys.is_not_null().to_numpy()
    sha = hashlib.sha256
    zero = bytes(32)
    raw = keys.cast(pl.Binary).to_list()
    blob = b"".join([zero if b is None else sha(b).digest() for b in raw])
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, 32), valid
