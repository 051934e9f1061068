"""Column conventions of the common image-text datasets, detected from column names.

| convention  | URL   | text    | extras                      |
|-------------|-------|---------|-----------------------------|
| laion       | URL   | TEXT    | hash (mmh3), LANGUAGE       |
| datacomp    | url   | text    | uid                         |
| coyo        | url   | text    | id                          |
| img2dataset | url   | caption | key, status                 |
| cc3m        | (TSV without header: caption, url)  |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

URL_NAMES = ("URL", "url", "image_url", "img_url", "imageurl", "image_src", "src", "link")
TEXT_NAMES = (
    "TEXT",
    "text",
    "caption",
    "alt",
    "alt_text",
    "alt+text",
    "alttext",
    "title",
    "description",
)


class ColumnError(ValueError):
    """A shard whose URL or text column cannot be found, or an override that is no column."""
    pass


@dataclass(frozen=True)
class ColumnMap:
    """Which source columns of a shard hold URL, text and the optional extras."""
    url: str
    text: str
    convention: str
    laion_hash: str | None = None
    uid: str | None = None
    key: str | None = None
    language: str | None = None

    def source_columns(self) -> list[str]:
        """The distinct source column names to read, URL and text first."""
        cols = [self.url, self.text, self.laion_hash, self.uid, self.key, self.language]
        return list(dict.fromkeys(c for c in cols if c))

    def to_json(self) -> dict:
        """The column map as a plain dict."""
        return asdict(self)


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in columns:
            return c
    lower = {c.lower(): c for c in columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def detect_columns(
    columns: list[str], path: str, url_col: str | None = None, text_col: str | None = None
) -> ColumnMap:
    """Pick URL/text columns by convention (or the user's override); fail naming what exists."""
    url = url_col or _pick(columns, URL_NAMES)
    text = text_col or _pick(columns, TEXT_NAMES)
    for given, label in ((url_col, "--url-col"), (text_col, "--text-col")):
        if given and given not in columns:
            raise ColumnError(
                f"{path}: {label} {given!r} is not a column; columns found: {_shown(columns)}"
            )
    if url is None or text is None:
        missing = " and ".join(n for n, v in (("URL", url), ("text", text)) if v is None)
        raise ColumnError(
            f"{path}: no usable {missing} column; columns found: {_shown(columns) or '(none)'}"
            " (use --url-col/--text-col)"
        )
    if url == "URL" and text == "TEXT":
        conv = "laion"
    elif text == "caption" and "key" in columns:
        conv = "img2dataset"
    elif "uid" in columns:
        conv = "datacomp"
    elif url == "url" and text == "text":
        conv = "coyo"
    else:
        conv = "custom"
    laion_hash = "hash" if conv == "laion" and "hash" in columns else None
    return ColumnMap(
        url=url,
        text=text,
        convention=conv,
        laion_hash=laion_hash,
        uid="uid" if "uid" in columns else None,
        key="key" if "key" in columns else None,
        language=_pick(columns, ("LANGUAGE", "language", "lang")),
    )


def _shown(columns: list[str], most: int = 12) -> str:
    """Column names for a message: printable, short, at most `most` (a binary file read as
    CSV has one "column" of noise)."""
    out = []
    for c in columns[:most]:
        c = c if c.isprintable() else ascii(c)[1:-1]
        out.append(c if len(c) <= 40 else c[:37] + "...")
    more = len(columns) - most
    return ", ".join(out) + (f" (+{more} more)" if more > 0 else "")
