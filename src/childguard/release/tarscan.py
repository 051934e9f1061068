"""Where each member of a tar lies, fast: a minimal header walker, checked against `tarfile`.

Purging a webdataset tar needs, per member, its name and the byte range it occupies (its
header blocks, any GNU long-name or PAX extension headers before it, and its padded payload),
so that kept members can be copied as raw ranges. `tarfile` parses each header in ~100 us of
Python; this walker reads only the fields it needs (name, ustar prefix, size, type, and the
`path`/`size` records of PAX headers, GNU `L` long names). On anything it does not expect, a
bad checksum included, it raises and `member_spans` falls back to `tarfile` (the reference; a
test asserts both agree); when neither can read every member, the tar fails (never a shorter
member list).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import NamedTuple

BLOCK = 512


class Span(NamedTuple):
    """Where one tar member lies: header start, payload start and payload size."""
    name: str
    is_file: bool
    start: int  # first byte of the member's first header block (extension headers included)
    data: int  # first byte of its payload
    size: int  # payload size (unpadded)

    @property
    def end(self) -> int:
        """The byte after the member's padded payload."""
        return self.data + ((self.size + BLOCK - 1) // BLOCK) * BLOCK


class TarFormatError(ValueError):
    """A tar file that cannot be read as tar (truncated, bad checksum, overrun)."""
    pass


def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        v = int.from_bytes(field[1:], "big")
        return v - (1 << (8 * (len(field) - 1))) if field[0] & 0x40 else v
    s = field.split(b"\0", 1)[0].strip()
    return int(s, 8) if s else 0


def _checksum_ok(hdr: bytes) -> bool:
    stored = _num(hdr[148:156])
    unsigned = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
    return stored == unsigned


def _pax_records(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        sp = data.index(b" ", pos)
        length = int(data[pos:sp])
        rec = data[sp + 1 : pos + length - 1]  # without the trailing newline
        k, _, v = rec.partition(b"=")
        out[k.decode("utf-8", "surrogateescape")] = v.decode("utf-8", "surrogateescape")
        pos += length
    return out


def fast_spans(path: Path) -> list[Span]:
    """Every member's span, read from the tar headers without tarfile (pax, GNU names)."""
    spans: list[Span] = []
    file_size = path.stat().st_size
    with open(path, "rb", buffering=0) as f:
        pos = 0
        start: int | None = None
        long_name: str | None = None
        pax: dict[str, str] = {}
        while True:
            f.seek(pos)
            hdr = f.read(BLOCK)
            if 0 < len(hdr) < BLOCK:
                raise TarFormatError(f"{path}: truncated header at byte {pos}")
            if not hdr or hdr == b"\0" * BLOCK:
                if start is not None:
                    raise TarFormatError(f"{path}: extension header without a member")
                _check_within(path, spans, file_size)
                return spans
            if not _checksum_ok(hdr):
                raise TarFormatError(f"{path}: bad header checksum at byte {pos}")
            size = _num(hdr[124:136])
            kind = hdr[156:157]
            data = pos + BLOCK
            padded = ((size + BLOCK - 1) // BLOCK) * BLOCK
            if kind in (b"x", b"L", b"g", b"K"):
                payload = f.read(size) if kind in (b"x", b"L") else b""
                if kind == b"x":
                    pax.update(_pax_records(payload))
                elif kind == b"L":
                    long_name = payload.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if kind == b"g":  # global header: a member of its own, kept as is
                    spans.append(Span("", False, pos, data, size))
                else:
                    start = pos if start is None else start
                pos = data + padded
                continue
            name = hdr[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if hdr[257:262] == b"ustar":
                prefix = hdr[345:500].split(b"\0", 1)[0]
                if prefix and hdr[257:265] != b"ustar  \0":  # POSIX prefix, not GNU
                    name = prefix.decode("utf-8", "surrogateescape") + "/" + name
            if long_name is not None:
                name = long_name
            if "path" in pax:
                name = pax["path"]
            if "size" in pax:
                size = int(pax["size"])
                padded = ((size + BLOCK - 1) // BLOCK) * BLOCK
            if kind == b"\0" and name.endswith("/"):  # old-style directory, as tarfile reads it
                kind = b"5"
            if kind == b"5":
                name = name.rstrip("/")
            is_file = kind in (b"0", b"\0", b"7")
            if not is_file:
                size = size if kind not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0
                padded = ((size + BLOCK - 1) // BLOCK) * BLOCK
            spans.append(Span(name, is_file, pos if start is None else start, data, size))
            start, long_name, pax = None, None, {}
            pos = data + padded


def _check_within(path: Path, spans: list[Span], file_size: int) -> None:
    """A member whose payload runs past the end of the file: the tar was cut inside it."""
    for sp in spans:
        if sp.data + sp.size > file_size:
            raise TarFormatError(f"{path}: truncated inside member {sp.name!r} (byte {sp.start})")


def reference_spans(path: Path) -> list[Span]:
    """`tarfile`'s view. `tarfile` ends its member list quietly at a header it cannot parse
    (a bad checksum mid-archive reads as "end of archive"), which would let a purge write a
    shortened tar: so what follows its last member must be the end-of-archive zeros or the end
    of the file, and every member must lie inside the file."""
    spans: list[Span] = []
    with tarfile.open(path, "r:") as tf:
        for m in tf:
            size = m.size if m.isfile() else 0
            spans.append(Span(m.name, m.isfile(), m.offset, m.offset_data, size))
            tf.members.clear()  # iteration only asks for the next header
        stop = tf.offset
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(stop)
        after = f.read(BLOCK)
    if after and after != b"\0" * len(after):
        raise TarFormatError(f"{path}: unreadable member header at byte {stop}")
    _check_within(path, spans, file_size)
    return spans


def member_spans(path: Path) -> list[Span]:
    """Every member's span, or TarFormatError: a tar is never read as shorter than it is."""
    try:
        return fast_spans(path)
    except (TarFormatError, ValueError):
        pass
    try:
        return reference_spans(path)
    except tarfile.TarError as e:
        raise TarFormatError(f"{path}: truncated or corrupt tar ({e})") from None
