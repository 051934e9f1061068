"""Counts of flagged rows by what a rights group asks about: language, hosting platform, site
type, year in the URL path, and places mentioned. Counted at scan time (the report never reads
the source rows) and kept per task and per shard in the stats, as counts only.

A platform (registrable domain) is kept by name only where a task flagged at least
`HOST_MIN` of its rows and none of its words is a given name; others are kept as an (unsalted) SHA-256 prefix, which the report
can add to a named platform's total but cannot print: a family blog's domain may carry a
child's name.
"""

from __future__ import annotations

import hashlib
import re

import polars as pl

HOST_MIN = 20  # rows a platform needs, in one task, to be named (the report applies it again)
HASHED = "sha256:"
_SECOND_LEVEL = {
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "co",
    "ac",
    "or",
    "ne",
    "go",
    "sch",
    "nic",
    "mil",
    "blog",
}
_YEAR = r"(?:^|[^0-9])((?:19[89]|20[0-4])[0-9])(?:[^0-9]|$)"
# first matching rule wins; matched against the whole host
_SITE_TYPES: tuple[tuple[str, str], ...] = (
    (
        "stock",
        r"shutterstock|istockphoto|gettyimages|alamy|depositphotos|dreamstime|123rf|freepik|"
        r"pexels|unsplash|pixabay|adobestock|stock\.adobe|bigstock|canstock",
    ),
    (
        "social",
        r"facebook|fbcdn|instagram|cdninstagram|twitter|twimg|pinimg|pinterest|reddit|"
        r"redd\.it|flickr|vk\.com|userapi|tiktok|ytimg|youtube|tumblr|imgur|weibo",
    ),
    (
        "blog",
        r"blogspot|blogger|wordpress|wp\.com|wixsite|wix\.com|squarespace|medium\.com|"
        r"substack|weebly|ghost\.io|blog",
    ),
    (
        "shop",
        r"amazon|ebay|aliexpress|alicdn|mercadoli[bv]re|mlstatic|shopee|etsy|walmart|"
        r"shopify|magazineluiza|americanas|(^|[.-])(shop|store|loja|tienda)",
    ),
    (
        "news",
        r"news|noticia|globo\.com|uol\.com|bbc\.|cnn\.|reuters|apnews|jornal|gazeta|"
        r"folha|estadao|zeitung|journal|times|herald|tribune|(^|[.-])diario",
    ),
    ("school", r"\.edu(\.|$)|\.k12\.|\.sch\.|school|escola|colegio|creche|kita|ecole|schule"),
    ("government", r"\.gov(\.|$)|\.gob\.|\.gouv\."),
)


def platform(host: str) -> str:
    """The registrable part of a host: `x.blogspot.com` -> `blogspot.com`, `a.b.com.br` ->
    `b.com.br` (a short list of second-level labels, not the public-suffix list)."""
    labels = [x for x in host.split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    keep = 3 if labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


def hashed(name: str) -> str:
    """A platform name as a short SHA-256 key (small platforms are stored unnamed)."""
    return HASHED + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def _host_expr() -> pl.Expr:
    u = pl.col("url").fill_null("").str.to_lowercase().str.strip_chars()
    return (
        u.str.replace(r"^[a-z][a-z0-9+.-]*://", "")
        .str.replace(r"[/?#].*$", "")
        .str.replace(r"^.*@", "")
        .str.replace(r":[0-9]*$", "")
        .str.strip_chars(".")
        .str.replace(r"^www[0-9]*\.", "")
    )


def _counts(s: pl.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in s.value_counts().iter_rows() if k is not None}


def facet_counts(flagged: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Counts over flagged rows (`url`, optional `language` and `places__region` columns)."""
    if flagged.height == 0:
        return {}
    df = flagged.select(
        host=_host_expr(),
        path=pl.col("url").fill_null("").str.replace(r"^[a-z][a-z0-9+.-]*://[^/]*", ""),
        lang=(
            pl.col("language").cast(pl.String).str.to_lowercase().str.strip_chars().fill_null("und")
            if "language" in flagged.columns
            else pl.lit("und")
        ),
        place=(
            pl.col("places__region") if "places__region" in flagged.columns else pl.lit(None)
        ).cast(pl.String),
    )
    df = df.with_columns(lang=pl.when(pl.col("lang") == "").then(pl.lit("und")).otherwise("lang"))
    site = pl.lit("other")
    for name, pattern in reversed(_SITE_TYPES):
        site = pl.when(pl.col("host").str.contains(pattern)).then(pl.lit(name)).otherwise(site)
    df = df.with_columns(
        site_type=site,
        year=pl.col("path").str.extract(_YEAR, 1).fill_null("none"),
    )
    return {
        "language": _counts(df["lang"]),
        "platform": _counts(df["host"].map_elements(platform, return_dtype=pl.String)),
        "site_type": _counts(df["site_type"]),
        "year": _counts(df["year"]),
        "place": _counts(df["place"]),
    }


def names_a_person(host: str) -> bool:
    """A platform with a given name among its words (`maria-fotos.com.br`) is never named,
    however many rows it has: it may be one family's site. (A name run into another word,
    `mariafotos`, is not caught.)"""
    from childguard.detect.lexicon import load_name_list

    names = load_name_list()
    return any(len(w) >= 3 and w in names for w in re.split(r"[^a-z0-9]+", host.lower()))


def seal(facets: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """A task's counts as written to disk: platforms under HOST_MIN rows, or that read like a
    person's name, hashed."""
    out = {k: dict(sorted(v.items())) for k, v in facets.items() if k != "platform"}
    hosts: dict[str, int] = {}
    for host, n in facets.get("platform", {}).items():
        named = host.startswith(HASHED) or (n >= HOST_MIN and not names_a_person(host))
        key = host if named else hashed(host)
        hosts[key] = hosts.get(key, 0) + n
    out["platform"] = dict(sorted(hosts.items()))
    return out


def merge(into: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    """Add one task's facet counts into a shard's (in place)."""
    for facet, counts in more.items():
        dst = into.setdefault(facet, {})
        for k, v in counts.items():
            dst[k] = dst.get(k, 0) + v
