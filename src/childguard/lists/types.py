"""What a takedown list holds and how one entry is parsed into its fixed-width digest.

Every list is stored as fixed-width binary digests, never as the text it was imported from:
URL lists keep the SHA-256 of each URL's list key (so the store holds no URLs): the
Safe-Browsing-style `urls.list_key` for lists made since list key `sb1`, which a spelling trick
(`%2525`, `http://3279880203/`, `//`) cannot escape, or the normalised URL of the row identity
for older lists (list.json `url_key`); `url_sha256` lists hold that identity as given; hex hashes
keep their bytes, and `laion_hash` keeps the signed int64 as 8 big-endian two's-complement bytes.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from urllib.parse import urlsplit

import numpy as np

from childguard.urls import LIST_KEY_VERSION, list_key, normalize_url


class ListType(StrEnum):
    """The kinds of list entries: URLs, URL SHA-256, file hashes, PDQ, LAION hashes."""
    url = "url"
    url_sha256 = "url_sha256"
    md5 = "md5"
    sha1 = "sha1"
    sha256 = "sha256"
    pdq = "pdq"
    laion_hash = "laion_hash"


WIDTH: dict[ListType, int] = {
    ListType.url: 32,
    ListType.url_sha256: 32,
    ListType.md5: 16,
    ListType.sha1: 20,
    ListType.sha256: 32,
    ListType.pdq: 32,
    ListType.laion_hash: 8,
}

# Types matched against the row's URL: `url` lists by their entries' key (URL_KEYS), `url_sha256`
# lists by the row identity (SHA-256 of the normalised URL, as manifests publish it).
URL_TYPES = frozenset({ListType.url, ListType.url_sha256})
FILE_HASH_TYPES = frozenset({ListType.md5, ListType.sha1, ListType.sha256})
IMAGE_TYPES = FILE_HASH_TYPES | {ListType.pdq}

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_INT = re.compile(r"^[+-]?[0-9]+$")


class EntryError(ValueError):
    """One malformed entry; the message says why, never repeats the entry."""


# How a `url` list keys its entries: `sb1` (urls.list_key, Safe-Browsing-style, since list
# format 2) or `rfc3986` (the normalised URL of url_sha256: lists made before, kept readable)
URL_KEYS = ("sb1", "rfc3986")


def parse_entry(kind: ListType | str, raw: str, url_key: str = LIST_KEY_VERSION) -> bytes:
    """Parse one entry into its digest (WIDTH[kind] bytes). Raises EntryError."""
    kind = ListType(kind)
    value = raw.strip()
    if not value:
        raise EntryError("empty entry")
    if kind is ListType.url:
        return url_digest(value, url_key)
    if kind is ListType.laion_hash:
        if not _INT.match(value):
            raise EntryError("laion_hash must be a decimal signed 64-bit integer")
        if len(value.lstrip("+-").lstrip("0")) > 20:  # before int(): Python refuses 4,300+ digits
            raise EntryError("laion_hash out of 64-bit range")
        n = int(value)
        if not -(2**63) <= n < 2**64:
            raise EntryError("laion_hash out of 64-bit range")
        if n >= 2**63:  # accept the unsigned spelling of a negative hash
            n -= 2**64
        return int64_digest(n)
    width = WIDTH[kind]
    if len(value) != 2 * width or not _HEX.match(value):
        raise EntryError(f"{kind.value} must be {2 * width} hex digits, got {len(value)} chars")
    return bytes.fromhex(value)


def url_digest(url: str, url_key: str = LIST_KEY_VERSION) -> bytes:
    """SHA-256 of a list entry's URL key (entries must be absolute URLs): the Safe-Browsing
    key (`sb1`) or, for lists made before it, the normalised URL (`rfc3986`)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as e:
        raise EntryError(f"not a URL ({e})") from None
    if not parts.scheme or not parts.netloc:
        raise EntryError("not an absolute URL (scheme://host/...)")
    key = list_key(url) if url_key == "sb1" else normalize_url(url)
    assert key is not None
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def int64_digest(n: int) -> bytes:
    """A signed int64 (a LAION hash) as 8 big-endian bytes."""
    return (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def int64_digests(values: np.ndarray) -> np.ndarray:
    """int64 array -> (n, 8) uint8 digests, as `int64_digest` per value."""
    return (
        np.ascontiguousarray(values.astype(np.int64).view(np.uint64).astype(">u8"))
        .view(np.uint8)
        .reshape(-1, 8)
    )


def format_entry(kind: ListType, digest: bytes) -> str:
    """Digest -> how `lists query` prints it (URLs are shown by their SHA-256)."""
    if kind is ListType.laion_hash:
        return str(int.from_bytes(digest, "big", signed=True))
    return digest.hex()
