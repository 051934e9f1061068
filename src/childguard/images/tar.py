"""Reading webdataset tars as img2dataset writes them: members `<key>.<ext>`, grouped by key.

`iter_samples` streams a tar (any file object, no seeking: local, s3://, http) and yields one
`Sample` per key with every member of that key (`jpg`, `json`, `txt`, ...), in tar order; it is
what a tar rewriter needs. `TarIndex` reads only the headers of a seekable tar and then fetches
single members by key, for a scan that needs the images of a few rows.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import fsspec


def sample_key(member_name: str) -> tuple[str, str]:
    """`dir/000123.jpg` -> (`dir/000123`, `jpg`); `000123.seg.png` -> (`000123`, `seg.png`).

    The webdataset convention: the key is everything before the first dot of the base name."""
    slash = member_name.rfind("/")
    dot = member_name.find(".", slash + 1)
    if dot < 0:
        return member_name, ""
    return member_name[:dot], member_name[dot + 1 :]


@dataclass
class Sample:
    """One webdataset sample: its key, member bytes by extension and member headers."""
    key: str
    files: dict[str, bytes] = field(default_factory=dict)
    # Tar member headers in order, so a rewriter can keep mode/mtime/owner when copying.
    members: list[tarfile.TarInfo] = field(default_factory=list)

    def get(self, *exts: str) -> tuple[str, bytes] | None:
        """The first present member among `exts` (e.g. "jpg", "png", "webp")."""
        for ext in exts:
            if ext in self.files:
                return ext, self.files[ext]
        return None


def iter_samples(source: str | IO[bytes]) -> Iterator[Sample]:
    """Stream a tar's regular-file members grouped by key (consecutive members share a key).

    A key that appears again later (not consecutive) starts a new Sample: tars are not
    required to be sorted, and buffering the whole tar to merge them would not scale."""
    if isinstance(source, str):
        with fsspec.open(source, "rb") as f:
            yield from iter_samples(f)
        return
    current: Sample | None = None
    with tarfile.open(fileobj=source, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = sample_key(member.name)
            if current is None or key != current.key:
                if current is not None:
                    yield current
                current = Sample(key)
            f = tar.extractfile(member)
            assert f is not None
            current.files[ext] = f.read()
            current.members.append(member)
    if current is not None:
        yield current


class TarIndex:
    """Key -> {ext: (data offset, size)} from a seekable tar's headers; reads single members."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.members: dict[str, dict[str, tuple[int, int]]] = {}
        with fsspec.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r:") as tar:
            for m in tar:
                if m.isfile():
                    key, ext = sample_key(m.name)
                    self.members.setdefault(key, {})[ext] = (m.offset_data, m.size)

    def __contains__(self, key: str) -> bool:
        return key in self.members

    def __len__(self) -> int:
        return len(self.members)

    def read_many(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """Read (key, ext) members in file order with one open file."""
        spots = sorted(
            (self.members[k][e], (k, e))
            for k, e in wanted
            if k in self.members and e in self.members[k]
        )
        out: dict[tuple[str, str], bytes] = {}
        with fsspec.open(self.path, "rb") as f:
            for (offset, size), ke in spots:
                f.seek(offset)
                out[ke] = f.read(size)
        return out
