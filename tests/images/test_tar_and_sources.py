"""Webdataset tar reading (streamed and indexed) and finding the images beside a shard."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from childguard.images import (
    FolderImageSource,
    TarImageSource,
    TarIndex,
    find_image_source,
    iter_samples,
    sample_key,
)
from lists.helpers import add_member, blocky_image, write_img2dataset_shard


@pytest.mark.parametrize(
    ("name", "key", "ext"),
    [
        ("000123.jpg", "000123", "jpg"),
        ("dir/000123.json", "dir/000123", "json"),
        ("a.b/000123.seg.png", "a.b/000123", "seg.png"),
        ("noext", "noext", ""),
    ],
)
def test_sample_key(name: str, key: str, ext: str) -> None:
    assert sample_key(name) == (key, ext)


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            add_member(tar, name, data)
    return path


def test_iter_samples_groups_consecutive_members(tmp_path: Path) -> None:
    p = _tar(
        tmp_path / "00000.tar",
        [("1.jpg", b"J1"), ("1.json", b"{}"), ("1.txt", b"t"), ("2.png", b"P2"), ("2.txt", b"u")],
    )
    samples = list(iter_samples(str(p)))
    assert [s.key for s in samples] == ["1", "2"]
    assert samples[0].files == {"jpg": b"J1", "json": b"{}", "txt": b"t"}
    assert samples[1].get("jpg", "png") == ("png", b"P2")
    assert [m.name for m in samples[0].members] == ["1.jpg", "1.json", "1.txt"]
    # Also from a non-seekable stream.
    raw = io.BufferedReader(io.BytesIO(p.read_bytes()))  # type: ignore[arg-type]
    assert [s.key for s in iter_samples(raw)] == ["1", "2"]


def test_tar_index_reads_single_members(tmp_path: Path) -> None:
    p = _tar(tmp_path / "x.tar", [("a.jpg", b"AAA"), ("a.json", b"{}"), ("b.webp", b"BB")])
    idx = TarIndex(str(p))
    assert "a" in idx and len(idx) == 2
    assert idx.read_many([("b", "webp"), ("a", "jpg"), ("zz", "jpg")]) == {
        ("b", "webp"): b"BB",
        ("a", "jpg"): b"AAA",
    }
    src = TarImageSource(str(p))
    assert src.keys() == {"a", "b"}
    assert src.read(["a", "b", "c"]) == {"a": b"AAA", "b": b"BB"}


def test_find_image_source_tar_folder_or_none(tmp_path: Path) -> None:
    rows = [{"key": "000", "url": "https://e.com/0.jpg", "caption": "c", "image": blocky_image(0)}]
    tar_shard = write_img2dataset_shard(tmp_path / "t", "00000", rows)
    folder_shard = write_img2dataset_shard(tmp_path / "f", "00000", rows, as_folder=True)
    src = find_image_source(str(tar_shard))
    assert isinstance(src, TarImageSource) and src.read(["000"])["000"] == rows[0]["image"]
    src2 = find_image_source(str(folder_shard))
    assert isinstance(src2, FolderImageSource) and src2.keys() == {"000"}
    assert src2.read(["000", "001"]) == {"000": rows[0]["image"]}
    lone = tmp_path / "lone.parquet"
    lone.write_bytes(b"")
    assert find_image_source(str(lone)) is None
    assert find_image_source(str(tmp_path / "t" / "00000.tar")) is None
