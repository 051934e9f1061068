"""Build the synthetic demo sample shipped in the package (no real person's data).

Every row is generated from templates: the people, schools and domains are invented; places are
real Brazilian/other cities only as context. Re-run to regenerate (output is deterministic).

    python tools/make_demo_sample.py
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import mmh3
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "src" / "childguard" / "demo" / "data"
rng = random.Random(20261124)

GIVEN = [
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
    "Olivia",
    "Liam",
]
CITIES = ["Campinas", "Recife", "Curitiba", "Salvador", "Belo Horizonte", "Porto Alegre"]
CLEAN = [
    "Sunset over the mountains with orange sky",
    "Modern kitchen with marble countertop",
    "Bowl of fresh strawberries on a wooden table",
    "Vintage red car parked on the street",
    "Aerial view of {city} downtown at night",
    "Casa de praia com piscina e vista para o mar",
    "Prato de feijoada com arroz e couve",
    "Tênis de corrida masculino azul tamanho 42",
    "Abstract watercolor painting in blue tones",
    "Coffee cup and laptop on a desk",
    "Golden retriever puppy on the grass",
    "Wedding rings on a white rose",
    "Kids' sneakers size 30, blue, free shipping",
    "Dia das Crianças: até 50% off em brinquedos",
    "{name}, 42, CEO of a logistics company, at a conference",
    "Escola Municipal reformada: nova fachada",
]
CHILD = [
    "Little girl playing in the park",
    "Happy kids running on the beach",
    "Baby sleeping in a crib",
    "Menino jogando bola no campo",
    "Toddler eating watermelon",
    "Crianças brincando no parquinho",
]
IDENT = [
    ("Festa de {age} anos da {name} em {city}", "aniversario-{slug}-{age}-anos.jpg"),
    ("Nosso filho {name} no primeiro dia na Escola Pequeno Príncipe", "{slug}-escola.jpg"),
    ("{name} ({age} anos) recebe medalha no torneio de judô infantil", "judo-{slug}.jpg"),
    ("My daughter {name}, {age}, at her kindergarten graduation in {city}", "img_{n}.jpg"),
    ("Person smiling at the camera", "{slug}-{age}-anos-{city_slug}.jpg"),
    ("Nasceu {name}! Maternidade Santa Luzia, 3,2 kg, 14h32", "nascimento-{slug}.jpg"),
]


def slug(s: str) -> str:
    import unicodedata

    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "-".join(s.lower().split())


def fill(tpl: str, i: int) -> str:
    name = rng.choice(GIVEN)
    city = rng.choice(CITIES)
    return tpl.format(
        name=name, age=rng.randint(1, 12), city=city, slug=slug(name), city_slug=slug(city), n=i
    )


def make_rows(n: int, domain: str, start: int) -> list[tuple[str, str]]:
    rows = []
    for i in range(start, start + n):
        r = rng.random()
        if r < 0.03:
            text_t, url_t = rng.choice(IDENT)
            name = rng.choice(GIVEN)
            age, city = rng.randint(1, 12), rng.choice(CITIES)
            kw = dict(name=name, age=age, city=city, slug=slug(name), city_slug=slug(city), n=i)
            text, path = text_t.format(**kw), url_t.format(**kw)
        elif r < 0.07:
            text, path = rng.choice(CHILD), f"stock/{i}.jpg"
        else:
            text, path = fill(rng.choice(CLEAN), i), f"img/{i}-{rng.randint(100, 999)}.jpg"
        rows.append((f"https://{domain}/wp-content/uploads/2019/0{1 + i % 9}/{path}", text))
    return rows


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    laion = make_rows(1500, "blog.example-familia.com.br", 0)
    pq.write_table(
        pa.table(
            {
                "URL": [u for u, _ in laion],
                "TEXT": [t for _, t in laion],
                "LANGUAGE": ["pt"] * len(laion),
                "hash": pa.array([mmh3.hash64((u + t).encode())[0] for u, t in laion], pa.int64()),
            }
        ),
        OUT / "laion-part-00000.parquet",
        row_group_size=500,
    )
    coyo = make_rows(800, "cdn.example-photos.net", 1500)
    with gzip.GzipFile(OUT / "coyo-part-00000.jsonl.gz", "wb", mtime=0) as f:
        for i, (u, t) in enumerate(coyo):
            f.write(
                (json.dumps({"id": i, "url": u, "text": t}, ensure_ascii=False) + "\n").encode()
            )
    cc3m = make_rows(700, "media.example-news.org", 2300)
    with open(OUT / "cc3m-sample.tsv", "w", encoding="utf-8") as f:
        for u, t in cc3m:
            f.write(f"{t}\t{u}\n")


if __name__ == "__main__":
    main()
