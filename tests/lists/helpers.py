"""Synthetic images and img2dataset-style shards for list and image tests (no real photos)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def blocky_image(seed: int, size: int = 256, fmt: str = "PNG") -> bytes:
    """A smooth random 16x16 colour field: high PDQ quality, distinct per seed."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    # Smoothly upscaled, so a re-encoded or resized copy stays PDQ-close.
    img = Image.fromarray(blocks).resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def near_copy(seed: int) -> bytes:
    """`blocky_image(seed)` shrunk to 3/4 and saved as JPEG: a re-encoded copy (PDQ distance 4)."""
    img = Image.open(io.BytesIO(blocky_image(seed))).convert("RGB").resize((192, 192))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def flat_image() -> bytes:
    """One colour: PDQ quality 0."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 120, 120)).save(buf, "PNG")
    return buf.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_img2dataset_shard(
    folder: Path, stem: str, rows: list[dict], *, as_folder: bool = False
) -> Path:
    """`stem.parquet` (key, url, caption, status) plus `stem.tar` or `stem/` with the images.

    rows: {"key", "url", "caption", "image": bytes | None, "ext": "jpg"}."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "key": [r["key"] for r in rows],
                "url": [r["url"] for r in rows],
                "caption": [r["caption"] for r in rows],
                "status": [
                    "success" if r.get("image") is not None else "failed_to_download" for r in rows
                ],
            }
        ),
        folder / f"{stem}.parquet",
    )
    with_images = [r for r in rows if r.get("image") is not None]
    if as_folder:
        d = folder / stem
        d.mkdir(exist_ok=True)
        for r in with_images:
            (d / f"{r['key']}.{r.get('ext', 'jpg')}").write_bytes(r["image"])
            (d / f"{r['key']}.json").write_text(json.dumps({"url": r["url"]}))
    else:
        with tarfile.open(folder / f"{stem}.tar", "w") as tar:
            for r in with_images:
                add_member(tar, f"{r['key']}.{r.get('ext', 'jpg')}", r["image"])
                add_member(tar, f"{r['key']}.json", json.dumps({"url": r["url"]}).encode())
                add_member(tar, f"{r['key']}.txt", r["caption"].encode())
    return folder / f"{stem}.parquet"
