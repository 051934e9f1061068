"""A tiny synthetic audit: one source shard (captions with script/HTML, synthetic images),
its findings and run.json, laid out as `childguard scan` writes them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from childguard.engine.batch import FINDINGS_SCHEMA
from childguard.urls import laion_hash, url_sha256

SHARD_ID = "part-0-0a1b2c3d"
XSS_CAPTION = "Maria Clara 7 anos <script>alert('xss-caption')</script> na escola"
XSS_HTML = '<img src=x onerror="alert(1)"><b>Joao</b> birthday 5'
ROWS = [
    ("https://example.org/img/maria-clara-1.jpg", XSS_CAPTION),
    ("https://photos.test/<script>alert('xss-url')</script>.jpg", XSS_HTML),
    ("https://shop.example.com/shoe.jpg", "red shoes on sale"),
    ("https://family.example.net/p/ana-sofia.jpg", "Ana Sofia first day at school"),
    ("https://www.example.org/blog/party.jpg", "party at the park"),
    ("https://cdn.other.test/x.jpg", "landscape at dusk"),
]


def synthetic_image(seed: int, size: int = 96) -> bytes:
    """A deterministic drawn picture (gradients and blocks); no real photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    arr = np.stack([(x * 255 // size), (y * 255 // size), ((x + y) * 127 // size)], axis=-1).astype(
        np.uint8
    )
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 20, 2)
        arr[y0 : y0 + 20, x0 : x0 + 20] = rng.integers(0, 255, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_audit(root: Path, with_images: bool = True) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    shard = data / "part-0.parquet"
    cols: dict[str, pa.Array] = {
        "URL": pa.array([u for u, _ in ROWS]),
        "TEXT": pa.array([t for _, t in ROWS]),
    }
    if with_images:
        cols["jpg"] = pa.array(
            [synthetic_image(i) if i in (0, 3) else None for i in range(len(ROWS))], pa.binary()
        )
    pq.write_table(pa.table(cols), shard)
    audit = root / "audit"
    (audit / "findings").mkdir(parents=True)
    flagged = [
        (0, "identifiable_child", "remove", "name_and_age", "M. C. 7 anos"),
        (1, "child", "review", "child_terms", "<b>J.</b> birthday 5"),
        (3, "child", "review", "child_terms", "A. S. school"),
        (4, "child", "keep", "weak", "party"),
    ]
    findings = pa.table(
        {
            "row_index": [r for r, *_ in flagged],
            "url_sha256": [url_sha256(ROWS[r][0]) for r, *_ in flagged],
            "laion_hash": [laion_hash(*ROWS[r]) for r, *_ in flagged],
            "risk": [f[1] for f in flagged],
            "action": [f[2] for f in flagged],
            "rule": [f[3] for f in flagged],
            "reasons": [
                [
                    {
                        "detector": "caption_terms",
                        "version": "1",
                        "label": "child",
                        "score": 1.0,
                        "threshold": 0.5,
                        "evidence": f[4],
                    }
                ]
                for f in flagged
            ],
            "picture": [None] * len(flagged),  # no images detector in this audit
        },
        schema=FINDINGS_SCHEMA,
    )
    pq.write_table(findings, audit / "findings" / f"{SHARD_ID}.parquet")
    run = {
        "tool_version": "test",
        "inputs": [
            {
                "shard_id": SHARD_ID,
                "path": str(shard.resolve()),
                "format": "parquet",
                "compression": None,
                "size": shard.stat().st_size,
                "columns": {"url": "URL", "text": "TEXT"},
                "convention": "laion",
            }
        ],
    }
    (audit / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return audit


def make_img2dataset_audit(root: Path) -> Path:
    """img2dataset layout: `00000.parquet` (url, caption, key) with `00000.tar` beside it."""
    import tarfile

    data = root / "data"
    data.mkdir(parents=True)
    keys = [f"0000{i}" for i in range(3)]
    shard = data / "00000.parquet"
    pq.write_table(
        pa.table(
            {
                "url": [f"https://pics.test/{k}.jpg" for k in keys],
                "caption": ["first", "second", "third"],
                "key": keys,
            }
        ),
        shard,
    )
    with tarfile.open(data / "00000.tar", "w") as tar:
        for i, k in enumerate(keys):
            img = synthetic_image(10 + i)
            info = tarfile.TarInfo(f"{k}.jpg")
            info.size = len(img)
            tar.addfile(info, io.BytesIO(img))
    audit = root / "audit"
    (audit / "findings").mkdir(parents=True)
    sid = "00000-11223344"
    pq.write_table(
        pa.table(
            {
                "row_index": [2],
                "url_sha256": [url_sha256("https://pics.test/00002.jpg")],
                "laion_hash": [0],
                "risk": ["child"],
                "action": ["review"],
                "rule": ["r"],
                "reasons": [[]],
                "picture": [None],
            },
            schema=FINDINGS_SCHEMA,
        ),
        audit / "findings" / f"{sid}.parquet",
    )
    run = {
        "inputs": [
            {
                "shard_id": sid,
                "path": str(shard.resolve()),
                "format": "parquet",
                "compression": None,
                "size": shard.stat().st_size,
                "columns": {"url": "url", "text": "caption", "key": "key"},
                "convention": "img2dataset",
            }
        ]
    }
    (audit / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return audit
