"""A synthetic audit for request-matching tests: several shards (parquet with row groups, a
CSV, one parquet with drawn images), names with accents, URLs spelt several ways, findings
for some rows; and random requests drawn from it. Every name and domain is invented."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session, sessionmaker

from childguard.engine.batch import FINDINGS_SCHEMA
from childguard.registry.matching import (
    Targets,
    normalize_domain,
    normalize_name,
    normalize_target_url,
)
from childguard.registry.models import RemovalRequest, RequestTarget
from childguard.urls import laion_hash, url_sha256

NAMES = ["João Pedro", "Ana Luísa", "Conceição", "Zoë Kraft", "Mário", "Inês Sá", "Léa", "Renée"]
HOSTS = ["fotos.exemplo.test", "cdn.fotos.exemplo.test", "blog.familia.test", "Shop.Lojas.test"]


def _url(rng: random.Random, i: int) -> str:
    host = rng.choice(HOSTS)
    folder = rng.choice(["img", "2019/festa", "uploads/a b", "p"])
    slug = rng.choice(["foto", rng.choice(NAMES).lower().replace(" ", "-"), "x"])
    u = f"https://{host}/{folder}/{slug}-{i % 40}.jpg"
    # the same address spelt another way: case, escapes, default port, dot segments
    v = rng.random()
    if v < 0.15:
        u = u.replace("https://", "HTTPS://").replace(host, host.upper())
    elif v < 0.3:
        u = u.replace(f"/{folder}/", f"/./{folder}//").replace(host, host + ":443")
    elif v < 0.4:
        u = u.replace("-", "%2D")
    return u


def _text(rng: random.Random) -> str:
    r = rng.random()
    name = rng.choice(NAMES)
    if r < 0.3:
        return f"Festa da {name} com 7 anos"
    if r < 0.4:
        return f"{name.upper()} no parque"
    if r < 0.5:
        return f"{name.lower()}, primeiro dia"
    return rng.choice(["Pôr do sol", "mesa de madeira", "Sapatos vermelhos", ""])


def _image(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:64]
    arr = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    for _ in range(5):
        x0, y0 = rng.integers(0, 44, 2)
        arr[y0 : y0 + 20, x0 : x0 + 20] = rng.integers(0, 255, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_world(root: Path, seed: int = 0, rows: int = 150, images: bool = True) -> Path:
    """Write shards + run.json + findings under root; returns the audit folder."""
    rng = random.Random(seed)
    data, audit = root / "data", root / "audit"
    (audit / "findings").mkdir(parents=True)
    data.mkdir(parents=True)
    inputs, n = [], 0
    for s in range(3):
        urls = [_url(rng, n + i) for i in range(rows)]
        texts = [_text(rng) for _ in range(rows)]
        n += rows
        sid = f"part-{s}-0000000{s}"
        cols: dict[str, object] = {"URL": urls, "TEXT": texts}
        if s == 2:
            path = data / f"part-{s}.csv"
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["url", "caption"])
                w.writerows(zip(urls, texts, strict=True))
            fmt, columns = "csv", {"url": "url", "text": "caption"}
        else:
            path = data / f"part-{s}.parquet"
            if s == 0:  # LAION's own hash column: the index keeps it too
                cols["hash"] = pa.array([laion_hash(u, t) for u, t in zip(urls, texts, strict=True)], pa.int64())
            if images and s == 1:
                cols["jpg"] = pa.array(
                    [_image(i) if i % 10 == 0 else None for i in range(rows)], pa.binary()
                )
            pq.write_table(pa.table(cols), path, row_group_size=40)
            fmt, columns = "parquet", {"url": "URL", "text": "TEXT"}
        inputs.append(
            {
                "shard_id": sid,
                "path": str(path.resolve()),
                "format": fmt,
                "compression": None,
                "size": path.stat().st_size,
                "columns": columns,
                "convention": "laion",
            }
        )
        flagged = sorted(rng.sample(range(rows), rows // 8))
        pq.write_table(
            pa.table(
                {
                    "row_index": flagged,
                    "url_sha256": [url_sha256(urls[r]) for r in flagged],
                    "laion_hash": [laion_hash(urls[r], texts[r]) for r in flagged],
                    "risk": ["child"] * len(flagged),
                    "action": ["review"] * len(flagged),
                    "rule": ["r"] * len(flagged),
                    "reasons": [[] for _ in flagged],
                    "picture": [None] * len(flagged),  # no images detector in this audit
                },
                schema=FINDINGS_SCHEMA,
            ),
            audit / "findings" / f"{sid}.parquet",
        )
    (audit / "run.json").write_text(json.dumps({"inputs": inputs}), encoding="utf-8")
    return audit


def random_targets(audit: Path, rng: random.Random) -> Targets:
    """A request as intake stores it: some URLs of the data (spelt otherwise), folders,
    domains, a name written with or without accents, sometimes a photo of a row."""
    inputs = json.loads((audit / "run.json").read_text())["inputs"]
    urls = []
    for inp in inputs:
        if inp["format"] == "parquet":
            urls += pq.read_table(inp["path"], columns=["URL"]).column("URL").to_pylist()
    t = Targets()
    for _ in range(rng.randint(0, 3)):
        u = rng.choice(urls)
        u = rng.choice([u, u.lower(), u.replace("https://", ""), u.replace("%2D", "-")])
        t.urls.append(normalize_target_url(u))
    if rng.random() < 0.3:
        t.urls.append(normalize_target_url(f"https://{rng.choice(HOSTS).lower()}/2019/festa/"))
    if rng.random() < 0.3:
        t.domains.append(normalize_domain(rng.choice(["exemplo.test", "familia.test", "lojas.test", "nada.test"])))
    if rng.random() < 0.6:
        name = rng.choice([*NAMES, "Joao Pedro", "CONCEICAO", "Maria Ninguém"])
        t.names.append(normalize_name(name))
    if rng.random() < 0.2:
        from childguard.registry.matching import pdq_hex_from_bytes

        h = pdq_hex_from_bytes(_image(rng.choice([0, 10, 20, 999])))
        if h:
            t.pdq.append(h)
    t.urls = sorted(set(t.urls))
    return t


def add_request(sessions: sessionmaker[Session], rid: str, t: Targets) -> None:
    """Store a request with these targets, as intake does (matching not done)."""
    with sessions() as s, s.begin():
        req = RemovalRequest(
            id=rid,
            token_sha256=f"{rid:0<64}"[:64],
            contact="guardian@example.test",
            relationship_to_child="parent",
        )
        for kind, values in (("url", t.urls), ("domain", t.domains), ("name", t.names), ("pdq", t.pdq)):
            for v in values:
                req.targets.append(RequestTarget(kind=kind, value=v))
        s.add(req)
