"""The fast tar header walker agrees with `tarfile`, and raw-range copies are valid tars."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from childguard.release.img2dataset import TarScan, write_tar_without
from childguard.release.tarscan import fast_spans, member_spans, reference_spans


def _tar(path: Path, fmt: int, names: list[str], pax_headers: dict | None = None) -> Path:
    with tarfile.open(path, "w", format=fmt, pax_headers=pax_headers or {}) as tf:
        d = tarfile.TarInfo("sub")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for i, n in enumerate(names):
            data = bytes([i % 251]) * (i * 300 + 1)
            ti = tarfile.TarInfo(n)
            ti.size, ti.mtime = len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("sub/link")
        link.type, link.linkname = tarfile.SYMTYPE, names[0]
        tf.addfile(link)
    return path


NAMES = [
    "000000001.jpg",
    "000000001.json",
    "sub/" + "d" * 120 + "/000000002.jpg",  # over 100 chars: prefix, GNU L or PAX path
    "ção/000000003.txt",
    "x" * 150 + ".000000004.json",
]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_fast_walker_agrees_with_tarfile(tmp_path, fmt):
    names = NAMES if fmt != tarfile.USTAR_FORMAT else [n for n in NAMES if len(n) < 100]
    if fmt == tarfile.USTAR_FORMAT:
        names.append("p" * 90 + "/" + "q" * 60 + ".jpg")  # fits only with the ustar prefix
        names = [n.encode("ascii", "replace").decode() for n in names]
    p = _tar(tmp_path / "t.tar", fmt, names)
    assert fast_spans(p) == reference_spans(p)


def test_global_header_and_fallback(tmp_path):
    p = _tar(tmp_path / "g.tar", tarfile.PAX_FORMAT, NAMES, {"comment": "hello"})
    spans = fast_spans(p)
    assert spans[0].name == "" and not spans[0].is_file  # the global header, kept as is
    assert [s for s in spans[1:]] == reference_spans(p)
    bad = tmp_path / "bad.tar"
    raw = bytearray(p.read_bytes())
    raw[1024 + 148] ^= 1  # break a checksum: the fast walker refuses, tarfile decides
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError):
        fast_spans(bad)


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_raw_copy_drops_samples_and_keeps_members_identical(tmp_path, fmt):
    p = _tar(tmp_path / "t.tar", fmt, NAMES)
    spans = member_spans(p)
    scan = TarScan(
        [
            (s.name.split("/")[-1].split(".")[0] if s.is_file else None, s.start, s.end)
            for s in spans
        ],
        {"000000001", "000000003"},
        4,
    )
    _, dropped = write_tar_without(p, tmp_path / "out.tar", scan)
    assert dropped == 3
    with tarfile.open(p) as a, tarfile.open(tmp_path / "out.tar") as b:
        before = {m.name: (a.extractfile(m).read() if m.isfile() else m.type) for m in a}
        after = {m.name: (b.extractfile(m).read() if m.isfile() else m.type) for m in b}
    assert after == {
        n: v
        for n, v in before.items()
        if n.rsplit("/", 1)[-1].split(".")[0] not in {"000000001", "000000003"}
    }
    assert (tmp_path / "out.tar").stat().st_size % tarfile.RECORDSIZE == 0
