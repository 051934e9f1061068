"""Synthetic LAION-like corpus for benchmarks: URL + caption rows, mostly clean, some minors.

Deterministic for a given seed. Captions and slugs are generated from templates in several
languages; every name is drawn from a small invented list (no real person's data).

    python bench/corpus.py --rows 1000000 --out bench/out/corpus
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import mmh3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CLEAN = [
    "Sunset over the {place} mountains with an orange sky",
    "Modern kitchen with marble countertop and wooden stools",
    "Bowl of fresh strawberries on a rustic table",
    "Vintage red car parked on a street in {place}",
    "Casa de praia com piscina e vista para o mar em {place}",
    "Prato de feijoada com arroz, farofa e couve",
    "Tênis de corrida masculino azul tamanho 42",
    "Abstract watercolor painting in blue and gold tones",
    "Coffee cup and laptop on a wooden desk",
    "Golden retriever puppy lying on the grass",
    "Vestido de festa longo vermelho com renda",
    "Wohnzimmer mit grauem Sofa und Holzboden",
    "Chambre d'hôtel avec vue sur la mer à {place}",
    "Ristorante italiano con terrazza a {place}",
    "Vista aérea do centro de {place} à noite",
    "Logo vector illustration isolated on white background",
    "Men's leather wallet brown, genuine leather",
    "{name} Silva, 45, diretora financeira da empresa, em {place}",
    "Kids' sneakers size 30 blue, free shipping",
    "Dia das Crianças: até 50% de desconto em brinquedos",
]
CHILD = [
    "Little girl playing in the park",
    "Happy kids running on the beach at sunset",
    "Baby sleeping peacefully in a crib",
    "Menino jogando bola no campo de futebol",
    "Toddler eating watermelon in summer",
    "Crianças brincando no parquinho da praça",
    "Kinder spielen im Garten",
    "Enfants jouant dans la neige",
]
IDENT = [
    "Festa de {age} anos da {name} em {place}",
    "Nosso filho {name} no primeiro dia na escola",
    "My daughter {name}, {age}, at her kindergarten graduation",
    "{name} ({age} anos) recebe medalha no torneio infantil de judô",
    "Person smiling at the camera",
    "Nasceu {name}! Maternidade Santa Luzia, 3,2 kg",
]
NAMES = [
    "Maria Clara",
    "João Pedro",
    "Ana Júlia",
    "Lucas",
    "Helena",
    "Enzo",
    "Valentina",
    "Miguel",
    "Sophia",
    "Arthur",
    "Laura",
    "Davi",
    "Emma",
    "Noah",
]
PLACES = ["Campinas", "Recife", "Lisboa", "Porto", "Madrid", "Lyon", "Napoli", "Köln"]


def make_table(rows: int, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    kinds = np.random.default_rng(seed).random(rows)
    urls, texts = [], []
    for i in range(rows):
        k = kinds[i]
        name, place, age = rng.choice(NAMES), rng.choice(PLACES), rng.randint(1, 12)
        if k < 0.004:
            text = rng.choice(IDENT).format(name=name, place=place, age=age)
            slug = f"{name.lower().replace(' ', '-')}-{age}-anos"
        elif k < 0.015:
            text, slug = rng.choice(CHILD), f"stock-{i}"
        else:
            text = rng.choice(CLEAN).format(name=name, place=place)
            slug = f"img-{i}-{rng.randint(100, 999)}x{rng.randint(100, 999)}"
        host = f"cdn{i % 97}.example-{i % 13}.com"
        urls.append(
            f"https://{host}/wp-content/uploads/20{10 + i % 14}/{1 + i % 12:02d}/{slug}.jpg"
        )
        texts.append(text)
    hashes = [mmh3.hash64((u + t).encode())[0] for u, t in zip(urls, texts, strict=True)]
    return pa.table(
        {
            "URL": urls,
            "TEXT": texts,
            "LANGUAGE": ["en"] * rows,
            "hash": pa.array(hashes, pa.int64()),
        }
    )


def write_corpus(out: Path, rows: int, shards: int = 4, row_group: int = 50_000) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    per = rows // shards
    paths = []
    for s in range(shards):
        p = out / f"part-{s:05d}.parquet"
        n = per if s < shards - 1 else rows - per * (shards - 1)
        if not p.exists() or pq.ParquetFile(p).metadata.num_rows != n:
            pq.write_table(make_table(n, seed=s), p, row_group_size=row_group)
        paths.append(p)
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "corpus")
    a = ap.parse_args()
    print(write_corpus(a.out, a.rows))
