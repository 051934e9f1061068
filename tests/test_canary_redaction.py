"""No child's name leaves childguard unredacted: plant canary names, grep every output."""

from __future__ import annotations

import os
import subprocess
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datagen import cli_cmd

CANARIES = ["Valentina", "Heitor", "Lorena", "Enzo Gabriel", "Isadora"]
# children named like a town: the places detector takes the name for a place, and its
# evidence (`place:<word>`) must still not carry it (evidence by allowlist)
PLACE_NAMED = ["Londrina", "Jundiai"]
TEMPLATES = [
    ("Festa de 5 anos da {n} em Campinas", "https://blog.example.com.br/festa-{s}-5-anos.jpg"),
    ("Nosso filho {n} no primeiro dia na Escola Pequeno Sábio", "https://x.example/{s}.jpg"),
    ("My daughter {n}, 7, at her school play", "https://cdn.example.org/p/{s}-school.jpg"),
    ("Person smiling", "https://photos.example.net/2015/03/{s}-3-anos-recife.jpg"),
    ("{n} (9 anos) recebe medalha no judô infantil", "https://clube.example/judo.jpg"),
]


def fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in s if not unicodedata.combining(c))


def test_no_canary_name_in_any_output(tmp_path: Path) -> None:
    rows = []
    for name in CANARIES:
        slug = fold(name).replace(" ", "-")
        for text, url in TEMPLATES:
            rows.append((url.format(s=slug), text.format(n=name)))
    for name in PLACE_NAMED:
        rows.append(("https://x.example/a.jpg", f"Menina de 5 anos {name} com a avó"))
        rows.append(("https://x.example/b.jpg", f"Nossa filha {name}, 6 anos, no parque"))
    rows += [(f"https://a.example/{i}.jpg", f"mountain lake {i}") for i in range(200)]
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(
        pa.table({"URL": [u for u, _ in rows], "TEXT": [t for _, t in rows]}),
        data / "part-00000.parquet",
    )
    out = tmp_path / "audit"
    proc = subprocess.run(
        cli_cmd("scan", str(data), "--out", str(out), "--workers", "1"),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    findings = pq.read_table(next((out / "findings").glob("*.parquet")))
    # the scan must actually have flagged the planted rows, or this test proves nothing
    assert findings.num_rows >= len(CANARIES) * 4
    risks = findings.column("risk").to_pylist()
    assert risks.count("identifiable_child") >= len(CANARIES) * 3
    rep = subprocess.run(
        cli_cmd("report", str(out)), capture_output=True, text=True, timeout=300
    )
    assert rep.returncode == 0, rep.stderr
    texts = [proc.stdout, proc.stderr, rep.stdout, rep.stderr, str(findings.to_pylist())]
    for p in out.rglob("*"):
        if p.is_file() and p.suffix != ".parquet":
            texts.append(p.read_text(errors="replace"))
    blob = fold("\n".join(texts))
    for name in CANARIES + PLACE_NAMED:
        for part in fold(name).split():
            assert part not in blob, f"{part!r} leaked into an output"


def test_places_evidence_never_holds_the_word() -> None:
    """The places detector's own evidence (before the allowlist) gives initials only."""
    import polars as pl

    from childguard.detect import REGISTRY, load_builtin
    from childguard.engine.batch import score_batch

    load_builtin()
    dets = REGISTRY.create(["places"])
    texts = [f"Nossa filha {n}, 6 anos, no parque" for n in PLACE_NAMED]
    out = score_batch(
        pa.table({"row_index": [0, 1], "url": ["https://x.example/a.jpg"] * 2, "text": texts}), dets
    )
    ev = pl.from_arrow(out.column("places__evidence")).to_list()
    assert ev == ["place:L.", "place:J."]
