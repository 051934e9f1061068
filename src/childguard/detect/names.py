"""Personal names of children: a given name next to a child context.

A name list alone hits a third of web rows, so a name counts only when it sits next to a
kinship word ("nosso filho Lucas", "and her daughter Ava"), a possessive or child word
("notre Gabin", "little Maddie"), a child's age ("Lucas (6)", "Finn, 5", "miguel-6-anos"), a
birthday or child event ("aniversário de 7 anos do Bernardo", "primeira-eucaristia-isabelly"),
or in a row that is about a minor at a class, team, daycare or birth ("Na foto: Lorena, Davi e
Enzo"). In captions, names must be capitalised (unless the caption is all lower case); names
that are ordinary words ("Rosa", "Sol", "Luz", "May", "Baby", "Vitória") count only right
after a kinship word or right before an age. Adults are excluded: an adult age right after the
name ("Maria Fernanda, 35 anos"), or business/wedding contexts without a child's age.
Japanese: name + ちゃん/くん, kinship word + name (息子の悠真), name + age (陽翔、3歳).

Names no list has are found by structure, and only when the word is no known word (lexicons,
stopwords, places, everyday words): "my daughter Wilhelmina", "Maisie, aged 6,", "Les 10 ans de
Clément", "Ela'nın 1 yaş", "наша Соня" in a row about a minor, three or more capitalised words
listed in a class/daycare row with a known name among them, and slug words right after a child
event near the slug's end ("premiers-pas-timeo") or right before a child's age ("eymen-8-yas").

Vectorised filters pick the few candidate rows; only those get per-row Python.
Evidence carries initials only (`name:L. context:filho`).
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from typing import ClassVar

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect import signals
from childguard.detect._table_cache import cached_word_table
from childguard.detect._util import (
    fold,
    result,
    scatter_floats,
    sparse_strings,
    take_list,
    take_rows,
)
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext
from childguard.detect.lexicon import (
    CATEGORIES,
    DATA_DIR,
    load_lexicon,
    load_name_list,
)
from childguard.redact import initials

_WORD = re.compile(r"\w+", re.UNICODE)
# Japanese patterns (on the raw caption; `re` has no \p{Han}, so spell the ranges)
_H = "[\u3400-\u9fff]"
_K = "[\u3041-\u3096\u30a1-\u30fa]"
JA_SUFFIX = re.compile(
    rf"({_H}{{1,3}}|[\u3041-\u3096]{{2,4}}|[\u30a1-\u30fa]{{2,4}})(?:ちゃん|くん|君)"
)
JA_KIN = re.compile(rf"(?:息子|娘|長女|長男|次女|次男|三女|三男)(?:の|・|\(|（|、| )?({_H}{{1,3}})")
JA_AGE = re.compile(rf"({_H}{{1,3}})[、, ]?(?:[0-9]|1[0-7])(?:歳|さい|才)")
JA_SAN_AGE = re.compile(rf"({_H}{{2,5}})さん[\(（](?:[0-9]|1[0-7])[\)）]")
JA_NOT_NAME = {
    "赤", "お姉", "姉", "兄", "弟", "妹", "孫", "甥", "姪", "息子", "娘", "子",
    "あか", "おねえ", "おにい", "おばあ", "おじい", "ばあ", "じい", "ねえ", "にい", "かあ", "とう",
    "おかあ", "おとう", "ママ", "パパ", "ばあば", "じいじ", "ワン", "ニャン",
}  # fmt: skip
_JA_NOT_NAME_CHARS = set("日会式年月生時分歳才祝園校学服品家族週")
JA_ANY = "[\u3040-\u30ff\u3400-\u9fff]"
_CJK_CHAR = re.compile("[\u3400-\u9fff]")

# "Lorena, Davi e Enzo", "Freddie, Isla and Arlo", "Варя, Миша и Ксюша"
_CAPW = r"[^\W\d_][^\W\d_]+"
NAME_LIST = re.compile(
    rf"{_CAPW}(?:, {_CAPW})*,? (?:and|e|y|und|et|en|i|ve|dan|и|ed|og|och) {_CAPW}", re.UNICODE
)
NAME_AGE = re.compile(
    r"(?<![\w'])([^\W\d_][^\W\d_]{2,})(?: \([^()]{1,24}\))?,? "
    r"(?:(?:\((?:[0-9]|1[0-7])\)|(?:aged |age )?(?:[0-9]|1[0-7]),(?![0-9]))\s*[^\s]"
    # "Oubeida age 6", "Tom aged 4": no comma needed after "age", but no product's "age 3+"
    r"|aged? (?:[0-9]|1[0-7])(?![0-9+/–-])(?!\s*(?:to|and|up|or)\b))"
)
TR_PROPER = re.compile(
    r"(?<![\w'])([A-ZÇĞİÖŞÜ][a-zçğıöşü]{2,})['’](?:n?[ıiuü]n|[ıiuü]|y?[ae]|[dt][ae]n?)\b"
)
_CHILD_NUM = re.compile(r"^(?:[0-9]|1[0-7])$")
# a photo credit with a colon: "Foto: David R.", "(Photo: Privat)"; not "Na foto: Lorena, Davi"
# (Portuguese "in the photo:" lists the children shown)
CREDIT = re.compile(
    r"(?<![Nn]a )(?<![Nn]esta )(?<![^\W\d_])(?i:foto|fotos|photo|photos|bild|credit|cr[ée]dito?s?|fotografie)"
    r"\s?:\s?((?:[^\W\d_][\w'’.-]*\s?){1,3})"
)
# an artist's or author's credit closing the caption: "Baby whitetail by Lori T.", "Beat the
# KID - by Jan M.", "... by James H. on 500px" (capitalised words only, checked in `_titled`)
BY_CREDIT = re.compile(r"\b[Bb]y\s+((?:[^\W\d_][\w'’.-]*\s?){1,3}?)(?:\s*\bon\s+\w+)?[\s.!]*$")
# words that make a job title a child's ("our little chef", "young author", "future coach")
_YOUNG = frozenset(
    ["little", "young", "junior", "mini", "tiny", "baby", "future", "budding", "aspiring", "my", "our"]
)
# the number suffixes of ordinals once normalised: "2nd" -> "2 nd", "2º" -> "2 o", "3e" -> "3 e"
_ORDINAL = frozenset(["st", "nd", "rd", "th", "o", "a", "e", "er", "eme", "te", "de", "ste"])
# "my oldest", "our youngest": a possessive and a birth order say "my child"
_BIRTH_ORDER = frozenset(["oldest", "youngest", "eldest", "firstborn", "middle"])
# English names that are also verbs, and the words that make them verbs when they follow:
# "my son drew this", "my granddaughter drew this for me", "my son will be 5"
_VERB_NAMES = frozenset(["drew", "will", "may", "bill", "mark", "rose", "sue", "pat"])
_AFTER_VERB = frozenset(
    ["this", "that", "these", "it", "me", "us", "him", "her", "them", "a", "an", "the", "my",
     "our", "his", "their", "your", "some", "on", "up", "be", "have", "not", "to", "for", "with"]
)  # fmt: skip
# the words of "5 year old", "3 month old", "2 yo" (the lexicons hold them as phrases)
_AGE_WORDS = frozenset(["year", "years", "yr", "yrs", "yo", "month", "months", "week", "weeks", "old"])
_ADULT_NUM = re.compile(r"^(?:1[89]|[2-9][0-9])$")
WINDOW = 3
# possessive pronouns before a child's name, folded (the lexicons' `possessive` category also
# holds endearments, which are too loose for names no list has)
POSSESSIVES = frozenset(
    [
        "my",
        "our",
        "meu",
        "minha",
        "nosso",
        "nossa",
        "mi",
        "nuestra",
        "nuestro",
        "mon",
        "ma",
        "notre",
        "mein",
        "meine",
        "unser",
        "unsere",
        "unserem",
        "unseren",
        "mio",
        "mia",
        "nostro",
        "nostra",
        "mijn",
        "onze",
        "ons",
        "moja",
        "moj",
        "nasza",
        "nasz",
        "naszej",
        "naszego",
        "benim",
        "bizim",
        "наша",
        "наш",
        "нашеи",
        "нашего",
        "моя",
        "мои",
        "моеи",
    ]
)
_OF = {"de", "da", "do", "di", "des", "del", "della", "of", "van", "von", "du"}
# word classes of the vectorised pre-filter (`Names._candidates`)
(_NAMEISH, _ANCHOR, _CHILDNUM, _CONJ, _BDAY, _OF_W, _AGE_UNIT, _POSS, _KIN, _EVENT_END,
 _KNOWN, _NOT_UNKNOWN, _NAME_LOOSE, _NAME_STRICT, _BEFORE_STRICT) = (1 << i for i in range(15))  # fmt: skip
_CHILD_NUMS = [str(i) for i in range(18)]
# NAME_LIST's conjunctions, as textnorm tokens
_CONJUNCTIONS = ("and", "e", "y", "und", "et", "en", "i", "ve", "dan", "и", "ed", "og", "och")
# NAME_AGE without its name and its look-behind: every row NAME_AGE matches, matches this
_AGE_AFTER_NAME = r" (?:\((?:[0-9]|1[0-7])\)|(?:aged |age )?(?:[0-9]|1[0-7]),|aged? (?:[0-9]|1[0-7]))"


def _inflect(name: str) -> set[str]:
    """Case forms of a name ending in -a/-я ("kuba" -> "kuby", "соня" -> "сони")."""
    if len(name) < 4:
        return set()
    if name.endswith("a"):
        return {name[:-1] + e for e in ("y", "i", "e", "ie", "o", "u")}
    if name.endswith(("а", "я")):
        return {name[:-1] + e for e in ("ы", "и", "е", "у", "ю", "ой", "ей")}
    return set()


@lru_cache(maxsize=8)
def load_word_set(kind: str) -> frozenset[str]:
    """A packaged word list (data/<kind>.tsv.gz, first column), read once per process (the
    names detector and the scorer's features both read the common words)."""
    blob = gzip.decompress((DATA_DIR / f"{kind}.tsv.gz").read_bytes()).decode("utf-8")
    return frozenset(
        ln.split("\t")[0] for ln in blob.splitlines() if ln and not ln.startswith("#")
    )


# path words of web sites, never names
URL_JUNK = frozenset(
    [
        "img",
        "image",
        "images",
        "imagen",
        "imagenes",
        "imagem",
        "imagens",
        "foto",
        "fotos",
        "photo",
        "photos",
        "pic",
        "pics",
        "picture",
        "pictures",
        "dsc",
        "dscn",
        "dscf",
        "wp",
        "content",
        "uploads",
        "upload",
        "files",
        "file",
        "gallery",
        "galeria",
        "galerie",
        "galleria",
        "galeri",
        "galereya",
        "media",
        "thumb",
        "thumbs",
        "thumbnail",
        "large",
        "small",
        "medium",
        "original",
        "full",
        "resize",
        "crop",
        "cropped",
        "scaled",
        "final",
        "edit",
        "copy",
        "web",
        "site",
        "blog",
        "post",
        "posts",
        "page",
        "default",
        "attachments",
        "assets",
        "static",
        "cdn",
        "www",
        "http",
        "https",
        "com",
        "net",
        "org",
        "html",
        "php",
        "jpeg",
        "jpg",
        "png",
        "gif",
        "webp",
        "banner",
        "logo",
        "icon",
        "min",
        "max",
        "big",
        "px",
        "album",
        "albums",
        "albumy",
        "bilder",
        "bild",
        "zdjecia",
        "zdjecie",
        "foto",
        "galerij",
        "fotografie",
        "avatar",
        "user",
        "users",
        "profile",
        "header",
        "cover",
        "slide",
        "slider",
        "hero",
        "preview",
        "view",
        "sample",
        "stock",
        "news",
        "noticias",
        "nieuws",
        "novosti",
        "article",
        "articles",
        "story",
        "stories",
        "event",
        "events",
        "evento",
        "eventos",
        "archive",
        "archief",
        "arkhiv",
        "archiv",
        "archivio",
        "archivo",
        "arquivo",
        "archiwum",
        "arsiv",
        "arsip",
        "illustration",
        "ilustracao",
        "symbolbild",
    ]
)


@register
class Names(Detector):
    """A child's given name next to kinship, an age, an event or a school (caption, slug, Japanese patterns)."""
    name = "names"
    version = "1"
    # `anchor`: the context that made the word a name (a kinship or child word, "age 5",
    # "row context", "names in a group", ...): the scorer weighs a name beside "filho" above
    # one that only shares a row with a school word
    outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "anchor": pa.string()}

    def setup(self) -> None:
        """Load the name lists (census and open lists) and the words that are never names."""
        lex = load_lexicon()
        given = set(load_name_list())
        extra = set(lex.get("names"))
        extra |= {f for n in extra for f in _inflect(n)}
        lexical = {t for c, ts in lex.terms.items() if c not in ("names", "not_names") for t in ts}
        # ordinary words that are also names, and lexicon words that name lists contain
        self._strict = set(lex.get("not_names")) | lexical
        stop = set(lex.get("stopwords"))
        names = {
            n
            for n in (given | extra)
            if len(n) >= 3
            and " " not in n
            and (n not in stop or n in extra)
            and (n not in lexical or n in extra)
        }
        self._strict |= stop & extra  # "Mia", "Ben": names, and words in some language
        # not_names are names too ("Rosa", "Poppy"), only under strict context
        names |= {n for n in lex.get("not_names") if " " not in n and n not in stop}
        # single-word Brazilian places that are also names ("Vitória", "Natal", "Uberlândia")
        from childguard.detect.places import load_places

        self._places_br = {p for p in load_places(kinds=("br_city", "br_state")) if " " not in p}
        self._strict |= self._places_br
        self._names = names
        ja = re.compile(JA_ANY).search
        self._ja_names = {n for n in given | extra if ja(n)}
        single = lambda cats: {  # noqa: E731
            t for c in cats for t in lex.get(c) if " " not in t
        }
        phrases = lambda cats: [  # noqa: E731
            t.split(" ") for c in cats for t in lex.get(c) if " " in t
        ]
        near = ("relation", "possessive", "child", "child_ambiguous")
        self._near = single(near)
        self._near_phrases = phrases(near)
        # school words are not anchors: schools are named after people ("Escola Coronel X")
        ctx = ("birthday", "event", "age_years", "age_months", "age_days")
        self._context = single(ctx) | self._near
        self._context_phrases: dict[str, list[list[str]]] = {}
        for ph in phrases(ctx) + self._near_phrases:
            self._context_phrases.setdefault(ph[0], []).append(ph)
        self._relation = single(("relation", "possessive"))
        self._kin = single(("relation",))
        # child words are never the child's name ("christening-baby-in-white", "Baby Jack")
        self._child_words = single(("child", "child_ambiguous", "relation"))
        # last words of child events ("premiers pas", "battesimo"); not words that are terms
        # of other categories ("festa junina da escola" ends in a school word)
        ev_cats = ("event", "birthday", "first_day")
        other = {t for c, ts in lex.terms.items() if c not in ev_cats for t in ts}
        self._event_ends = (
            {t.split(" ")[-1] for c in ev_cats for t in lex.get(c)}
            - set(lex.get("stopwords"))
            - other
        )
        # true possessives only ("baby", "little", "sweet" are no owners: "Baby Whale")
        self._possessive = single(("possessive",)) & POSSESSIVES
        # everyday words are no unknown names ("desk" before an age in a slug, "Exercise (2)");
        # the frequency lists are only the names detector's: the scorer keeps common_words
        self._common = load_word_set("common_words") | load_word_set("everyday_words")
        self._age_units = single(("age_years", "age_months", "birthday"))
        self._bday = {t.split(" ")[-1] for t in lex.get("birthday")} - set(lex.get("stopwords"))
        self._stop = set(lex.get("stopwords"))
        # for names that are ordinary words: the word right before must be kinship, or the
        # end of an event/birthday phrase ("prima comunione Vittoria", "festa 5 anos")
        stop = set(lex.get("stopwords"))
        ends: dict[str, int] = {}
        for ts in lex.terms.values():
            for t in ts:
                if " " in t:
                    ends[t.split(" ")[-1]] = ends.get(t.split(" ")[-1], 0) + 1
        # a word that ends many phrases ("infantil": festa/moda/turma infantil) is a modifier
        generic = {w for w, k in ends.items() if k >= 3}
        # kinship only: "baby Blue", "little Rock" are no names
        self._strict_before = single(("relation",)) | {
            t.split(" ")[-1]
            for c in ("event", "birthday", "relation")
            for t in lex.get(c)
            if t.split(" ")[-1] not in stop and t.split(" ")[-1] not in generic
        }
        self._lexical = {t for t in lexical if " " not in t}
        self._months = single(("month",))
        self._titles = single(("adult_title",))
        # multi-word titles by their last word ("staff sgt", "photo by")
        self._title_ends: dict[str, list[list[str]]] = {}
        for ph in phrases(("adult_title",)):
            self._title_ends.setdefault(ph[-1], []).append(ph)
        # phrases by first word: a name that starts a lexicon phrase here is that phrase
        # ("Mała dziewczynka", "Little girl"), not a name
        self._phrase_starts: dict[str, list[list[str]]] = {}
        for t in lexical:
            if " " in t:
                words = t.split(" ")
                self._phrase_starts.setdefault(words[0], []).append(words)
        assert set(CATEGORIES) >= set(lex.terms)
        # built once per machine (~0.2 s a process otherwise): detect/_table_cache.py
        self._table = cached_word_table("names", self._word_classes)

    def _word_classes(self) -> dict[str, int]:
        """Class bits of every word a rule of `_row` looks for (`_candidates`)."""
        classes: dict[str, int] = {}

        def add(words, bit: int) -> None:
            for w in words:
                classes[w] = classes.get(w, 0) | bit

        # `_any_name`'s words; of them, those the name loop takes as names (the ordinary
        # words among them only with a strict anchor right next to them)
        add(self._names, _NAMEISH)
        add((n + "s" for n in self._names), _NAMEISH)
        add(self._names & self._strict, _NAME_STRICT)
        add(self._names - self._strict, _NAME_LOOSE)
        add((n + "s" for n in self._names - self._strict if len(n) > 3), _NAME_LOOSE)
        add(self._kin | self._strict_before | _OF, _BEFORE_STRICT)
        anchors = self._context | self._kin | self._strict_before | _OF | set(self._context_phrases)
        add(anchors | set(_CHILD_NUMS), _ANCHOR)
        add(_CHILD_NUMS, _CHILDNUM)
        add(_CONJUNCTIONS, _CONJ)
        add(self._bday, _BDAY)
        add(_OF, _OF_W)
        add(self._age_units, _AGE_UNIT)
        add(self._possessive, _POSS)
        add(self._kin, _KIN)
        add(self._event_ends, _EVENT_END)
        add(self._lexical | self._stop, _KNOWN)
        # words `_unknown_ok` refuses whatever their length (allow_stop=False)
        common_s = (c + "s" for c in self._common)
        add(self._lexical | self._stop | self._places_br | self._common | URL_JUNK, _NOT_UNKNOWN)
        add(common_s, _NOT_UNKNOWN)
        return classes

    def _candidates(self, batch: pa.Table, idx: np.ndarray, f: dict[str, np.ndarray]) -> np.ndarray:
        """Of the context rows `idx`, those where some rule of `_row` can fire.

        Each rule needs certain words at certain distances (a name within a few words of an
        anchor, a kinship word before a word no lexicon has, an event word in the slug...);
        these are looked up for all rows at once (`WordTable`). A row left out is one where
        `_row` would find nothing, so the per-row rules run on these rows only."""
        t = self._table.tokens(batch.column("text_norm"), idx)
        u = self._table.tokens(batch.column("url_words"), idx)
        raw = pl.from_arrow(take_rows(batch.column("text"), idx))
        assert isinstance(raw, pl.Series)
        raw = raw.cast(pl.String).fill_null("")
        cjk = raw.str.contains("[\u3400-\u9fff]").to_numpy()
        nameish = t.has(_NAMEISH) | u.has(_NAMEISH)
        gate = cjk | f["rel"] | f["age"] | f["event"] | f["group"] | nameish
        fire = (
            cjk
            | (f["group_ctx"] & t.has(_CONJ))  # names listed in a group
            | (f["bday_age"] & t.has(_BDAY))
            | raw.str.contains(_AGE_AFTER_NAME).to_numpy()
            | (f["age"] & t.followed(_OF_W, _NOT_UNKNOWN) & t.has(_AGE_UNIT))
            | (f["age"] & raw.str.contains("['’]").to_numpy())  # Turkish proper nouns
            | (f["minor_row"] & t.followed(_POSS, _NOT_UNKNOWN))
            | t.followed(_KIN, _KNOWN)
            | (f["slug_names"] & u.followed(_EVENT_END, _NOT_UNKNOWN))
            | (u.has(_CHILDNUM) & u.has(_AGE_UNIT))
            | self._named(t)
            | self._named(u)
            | (f["row_ctx"] & (t.has(_NAME_LOOSE) | u.has(_NAME_LOOSE)))
        )
        return gate & fire

    @staticmethod
    def _named(tokens) -> np.ndarray:
        """Rows with a listed name near what `_near_anchor` may take as its anchor."""
        window = range(-WINDOW - 1, WINDOW + 2)  # `_has_phrase` looks one word further
        return (
            tokens.near(_NAME_LOOSE, _ANCHOR, window)
            | tokens.near(_NAME_STRICT, _BEFORE_STRICT, (-1,))
            | tokens.near(_NAME_STRICT, _CHILDNUM, (1, 2))
        )

    # per-row -------------------------------------------------------------------------------
    def _has_phrase(self, toks: list[str], lo: int, hi: int) -> bool:
        """A context phrase (several words) within toks[lo:hi]."""
        seg = toks[max(lo, 0) : hi]
        for j, w in enumerate(seg):
            for ph in self._context_phrases.get(w, ()):
                if seg[j : j + len(ph)] == ph:
                    return True
        return False

    def _unknown_ok(self, tok: str, allow_stop: bool = False) -> bool:
        """A word on no name list may be a name if it is no known word."""
        return (
            3 <= len(tok) <= 14
            and tok.isalpha()
            and (tok not in self._lexical or (allow_stop and tok in self._stop))
            and (allow_stop or tok not in self._stop)
            and tok not in self._places_br
            and tok not in self._common
            and not (tok[-1:] == "s" and tok[:-1] in self._common)
            and tok not in URL_JUNK
        )

    def _titled(self, raw: str, toks: list[str], caps: set[str], lower: bool) -> set[str]:
        """Words named right after an adult's title, job or a photo credit: up to three
        capitalised words (any word in an all-lower-case caption; initials and a second title
        skipped: "Staff Sgt. Mario Volmer"). caps, lower: `_row`'s view of the caption."""
        out = {fold(w) for m in CREDIT.finditer(raw) for w in _WORD.findall(m.group(1))}
        m = BY_CREDIT.search(raw)
        if m is not None and not lower:
            words = _WORD.findall(m.group(1))
            if words and all(w[0].isupper() for w in words):
                out |= {fold(w) for w in words}
        titles, ends = self._titles, self._title_ends
        for i, t in enumerate(toks):
            if t not in titles and not any(
                toks[i - len(p) + 1 : i + 1] == p for p in ends.get(t, ())
            ):
                continue
            if i and toks[i - 1] in _YOUNG:  # "little chef Emma", "young author Maya"
                continue
            if any(w in self._child_words for w in toks[i + 1 : i + 4]):
                continue  # "chef bambina Greta": the job is a child's
            taken = 0
            for w in toks[i + 1 : i + 6]:
                if w in titles or len(w) == 1:
                    continue
                if (lower or w in caps) and w not in self._stop and not w.isdigit():
                    out.add(w)
                    taken += 1
                    if taken < 3:
                        continue
                break
        return out

    def _any_name(self, norm: str) -> bool:
        names = self._names
        return any(t in names or (t[-1:] == "s" and t[:-1] in names) for t in norm.split())

    def _starts_phrase(self, toks: list[str], i: int) -> bool:
        return any(toks[i : i + len(ph)] == ph for ph in self._phrase_starts.get(toks[i], ()))

    def _age_adjective(self, toks: list[str], j: int) -> bool:
        """The age at toks[j] qualifies a child word that follows ("Happy 5 year old boy"):
        the word before it is an adjective, not the child's name."""
        k = j + 1
        while k < len(toks) and k <= j + 3 and (toks[k] in self._age_units or toks[k] in _AGE_WORDS):
            k += 1
        return k > j + 1 and k < len(toks) and toks[k] in self._child_words

    def _near_anchor(
        self, toks: list[str], i: int, strict: bool, kin_only: bool = False
    ) -> str | None:
        """The context word that makes toks[i] a child's name, if any."""
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if _ADULT_NUM.match(nxt):
            return None
        if nxt.isdigit() and toks[i] in self._months and not (i and toks[i - 1] in self._kin):
            return None  # a date ("June 15, 2017"), unless kinship names her ("my daughter June 5")
        if i + 2 == len(toks) and nxt.isdigit():
            nxt = ""  # a number closing the caption numbers a photo series: "Rudy (3)"
        if strict:
            prev = toks[i - 1] if i >= 1 else ""
            if prev in (self._kin if kin_only else self._strict_before):
                return prev
            if prev in _BIRTH_ORDER and i >= 2 and toks[i - 2] in self._possessive:
                return f"{toks[i - 2]} {prev}"  # "my oldest elijah": kinship by birth order
            if i >= 2 and prev in _OF and toks[i - 2] in self._age_units:
                return f"{toks[i - 2]} {prev}"
            ordinal = i + 2 < len(toks) and toks[i + 2] in _ORDINAL  # "Happy 2nd birthday"
            if _CHILD_NUM.match(nxt) and not ordinal and not self._age_adjective(toks, i + 1):
                return f"age {nxt}"
            # "Jade a 3 ans", "Rosa tem 5 anos": one word, then an age with its unit
            after = toks[i + 2 : i + 4]
            if len(after) == 2 and _CHILD_NUM.match(after[0]) and after[1] in self._age_units:
                return f"age {after[0]}"
            return None
        for j in range(i - WINDOW, i + WINDOW + 1):
            if j == i or j < 0 or j >= len(toks):
                continue
            t = toks[j]
            if t in self._context:
                return t
            if _CHILD_NUM.match(t) and abs(j - i) <= 2 and j + 1 < len(toks):
                if j == i + 1 and self._age_adjective(toks, j):
                    return None  # "Happy 5 year old boy": an adjective, not a name
                # a number right next to a name is an age unless it is a date/size part
                # ("/2019/11/tracy-...") or an ordinal ("5th")
                other = toks[j + 1] if j + 1 < len(toks) else ""
                before = toks[j - 1] if j >= 1 else ""
                if not other.isdigit() and not before.isdigit() and other not in _ORDINAL:
                    return f"age {t}"
        if self._has_phrase(toks, i - WINDOW - 1, i + WINDOW + 2):
            return "phrase"
        return None

    def _row(
        self,
        raw: str,
        text_norm: str,
        url_words: str,
        row_ctx: bool,
        group_ctx: bool,
        cjk: bool,
        birthday_age: bool = False,
        child_age: bool = False,
        slug_names: bool = False,
        minor_row: bool = False,
    ) -> tuple[list[str], str] | None:
        raw_tokens = _WORD.findall(raw)
        alpha = [t for t in raw_tokens if t[:1].isalpha()]
        caps = {fold(t) for t in alpha if t[0].isupper()}
        lower = len(caps - {fold(alpha[0])} if alpha else set()) == 0
        # Title Case Captions: capitals say nothing, so names there need a close anchor
        title = len(alpha) >= 2 and sum(t[0].isupper() for t in alpha) >= 0.8 * len(alpha)
        text_toks = text_norm.split()
        text_set = set(text_toks)
        hits: list[tuple[str, str]] = []  # (name, the context that made it one)
        # a list of two or more capitalised names in a class/team/daycare row:
        # "Na foto: Lorena, Davi e Enzo", "Mia, Ben und Leon"
        if group_ctx and not lower and not title:
            for m in NAME_LIST.finditer(raw):
                caps_listed = [fold(w) for w in _WORD.findall(m.group(0)) if w[0].isupper()]
                listed = [w for w in caps_listed if w in self._names]
                if len(set(listed)) >= 2:
                    hits += [(w, "names in a group") for w in listed]
                elif (
                    len(set(caps_listed)) >= 3
                    and listed
                    and all(w in self._names or self._unknown_ok(w) for w in caps_listed)
                ):
                    # three or more capitalised words listed in a class/team/daycare row,
                    # one a known name (German nouns are capitalised: "bei Kindern:
                    # Vorbeugung, Symptome und Behandlungen" lists none)
                    hits += [(w, "names in a group") for w in caps_listed]
        # a capitalised word right after a birthday word, in a row with a child's age, is the
        # child's name even when no list has it: "Feliz cumpleaños Valentina, 7 añitos"
        if birthday_age and not lower and not title:
            for i in range(len(text_toks)):
                tok = text_toks[i]
                near = text_toks[max(0, i - 2) : i] + text_toks[i + 1 : i + 4]
                if (
                    any(p in self._bday for p in near)
                    and tok in caps
                    and len(tok) >= 3
                    and not tok.isdigit()
                    and tok not in self._lexical
                    and tok not in self._stop
                    and tok not in self._places_br
                ):
                    hits.append((tok, "birthday"))
        # a capitalised word followed by a child's age in brackets or commas is a name:
        # "Maisie, aged 6, with", "Lena (8) und ihr Bruder Max (5)", "Isabella, 9, from Leeds"
        aged: set[str] = set()  # words the caption gives a child's age
        for m in NAME_AGE.finditer(raw):
            tok = fold(m.group(1))
            aged.add(tok)
            # the bracketed age is strong enough to take a stopword-looking "Ben (3)"
            if m.group(1)[0].isupper() and self._unknown_ok(tok, allow_stop=m.start(1) > 0):
                hits.append((tok, "age after name"))
        if child_age and not lower and not title:
            # "Les 10 ans de Clément", "I 4 anni di Leonardo", "7 anos do Bernardo"
            for i in range(2, len(text_toks)):
                tok = text_toks[i]
                if (
                    text_toks[i - 1] in _OF
                    and text_toks[i - 2] in self._age_units
                    and tok in caps
                    and self._unknown_ok(tok)
                ):
                    hits.append((tok, "birthday of"))
        if child_age:
            # Turkish proper nouns take their suffix after an apostrophe: "Ela'nın 1 yaş"
            for m in TR_PROPER.finditer(raw):
                tok = fold(m.group(1))
                if tok not in self._places_br:  # the apostrophe marks a proper noun
                    hits.append((tok, "birthday"))
        # "наша Соня", "notre Gabin", "our Amelia": a possessive, then a capitalised word that
        # is no known word, in a row about a minor
        if minor_row and not lower and not title:
            for i in range(1, len(text_toks)):
                tok = text_toks[i]
                if text_toks[i - 1] in self._possessive and tok in caps and self._unknown_ok(tok):
                    hits.append((tok, text_toks[i - 1]))
        # a capitalised word right after a kinship word is a name even when no list has it:
        # "my daughter Wilhelmina (7)", "nosso filho Bartolomeu"
        if not lower and not title:
            for i in range(1, len(text_toks)):
                tok = text_toks[i]
                if (
                    text_toks[i - 1] in self._kin
                    and tok in caps
                    and len(tok) >= 3
                    and not tok.isdigit()
                    and tok not in self._lexical
                    and tok not in self._stop
                    and (tok in self._names or tok not in self._common)  # "Son Piggyback"
                    and not (i + 1 < len(text_toks) and _ADULT_NUM.match(text_toks[i + 1]))
                ):
                    hits.append((tok, text_toks[i - 1]))
        # URL slugs: a word on no list right after a child event or birthday, or right before
        # a child's age: "premiers-pas-timeo", "battesimo-tommaso", "eymen-8-yas"
        url_toks = url_words.split()
        for i, tok in enumerate(url_toks):
            if tok in self._names or (tok in text_set and tok not in caps):
                continue
            # after an event: only where the caption does not describe children generically
            # (stock and news slugs continue with more description: "rentree-scolaire-...")
            # and near the end of the slug, where names and towns sit
            after_event = (
                slug_names
                and i > 0
                and url_toks[i - 1] in self._event_ends
                and i >= len(url_toks) - 2
            )
            before_age = (
                i + 2 < len(url_toks)
                and _CHILD_NUM.match(url_toks[i + 1]) is not None
                and url_toks[i + 2] in self._age_units
            )
            if (after_event or before_age) and self._unknown_ok(tok):
                hits.append((tok, ("event" if after_event else "age after name")))
        for seg, is_text in ((text_toks, True), (url_toks, False)):
            for i, tok in enumerate(seg):
                if tok not in self._names:
                    # possessive glued in slugs and German genitive: "emmas", "Maximilians"
                    base = tok[:-1]
                    if (
                        len(tok) > 4
                        and tok[-1] == "s"
                        and base in self._names
                        and base not in self._strict  # "fleurs" is flowers, not Fleur's
                        # a lexicon word as it stands: "World Juniors" is no Junior's
                        and tok not in self._child_words
                        and tok not in self._lexical
                    ):
                        tok = tok[:-1]
                    else:
                        continue
                if self._starts_phrase(seg, i) or tok in self._child_words:
                    continue
                if tok in _VERB_NAMES and i + 1 < len(seg) and seg[i + 1] in _AFTER_VERB:
                    continue
                if is_text and not lower and tok not in caps and tok + "s" not in caps:
                    continue
                if not is_text and tok in text_set and tok not in caps:
                    continue  # the slug repeats the caption's ordinary word
                strict = tok in self._strict or (is_text and (lower or title))
                # all-lower-case captions: only a kinship word or an age makes a name
                a = self._near_anchor(seg, i, strict, kin_only=is_text and lower)
                if a is None and not strict and row_ctx:
                    nxt = seg[i + 1] if i + 1 < len(seg) else ""
                    a = "row context" if not _ADULT_NUM.match(nxt) else None
                if a is not None:
                    hits.append((tok, a))
        if cjk:
            for rx in (JA_SUFFIX, JA_KIN, JA_SAN_AGE, JA_AGE):
                for m in rx.finditer(raw):
                    g = m.group(1)
                    if g in JA_NOT_NAME or g.endswith("赤"):
                        continue
                    # ちゃん/くん and さん(13) mark a name; after 息子の or before 3歳 the kanji
                    # may be any word (娘の誕生日), so it must be a known name there
                    if rx in (JA_KIN, JA_AGE) and g not in self._ja_names:
                        nxt = raw[m.end(1) : m.end(1) + 1]
                        # 息子の颯真(5), 娘の紬と: a particle or bracket right after, and
                        # no kanji of days, events or schools in the word
                        if rx is JA_AGE or nxt not in "(（、と" or _JA_NOT_NAME_CHARS & set(g):
                            continue
                    hits.append((g, "ja pattern"))
        if not hits:
            return None
        # a name right after an adult's title, job or a photo credit is an adult's ("Staff
        # Sgt. Mario V.", "homeschool author Catherine J.", "Foto: David R."), unless the
        # caption gives that name a child's age ("coach's son Ben (8)" keeps Ben)
        adults = self._titled(raw, text_toks, caps, lower)
        if adults:
            # (a hit may be the caption's word less a possessive "s": "Markos" -> "marko")
            hits = [h for h in hits if not {h[0], h[0] + "s"} & adults or h[0] in aged]
            if not hits:
                return None
        return [h[0] for h in hits], hits[0][1]

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Score rows with child context where a name sits next to its anchor; evidence is initials only."""
        s = ctx.signals
        n = batch.num_rows
        minor = signals.minor_subject(s)
        age = signals.child_age(s)
        adult_only = ((s["age_adult"] | s["adult_paren"]) & ~age) | (
            s["neg_adult"] & ~age & ~s["child"] & ~s["event"]
        )
        group = s["class_word"] | s["school"] | s["host_school"] | s["class_des"] | s["youth"]
        # a birthday alone is anybody's ("Happy birthday Dave!"): it needs a minor or an age
        ctx = minor | age | s["relation"] | s["birth"] | group
        # shop pages name products, not children, unless kinship, a birthday or an event says so
        # (kinship without "my/our" too: "mum-shamed over daughter B.'s clothing"; title-case
        # shop names need a close anchor anyway; +0.007 CV identifiable AP on real rows)
        personal = s["relation"] | s["birthday"] | s["event"] | s["birth"]
        personal = personal | s["child_model"]
        # stock libraries show child models and never name them: a word there is no child's name
        ctx = ctx & ~s["stock"] & ~signals.negated(s) & ~adult_only & ~(s["neg_product"] & ~personal)
        # row-level context strong enough for a capitalised name anywhere in the row
        row_ctx = (
            (s["class_des"] | s["youth"] | s["youth_sport"] | s["event"] | s["birth"])
            | s["hospital"]
            | (minor & (s["school"] | s["host_school"] | age))
            | (age & s["birthday"])
        )
        group_ctx = group | s["event"] | minor
        bday_age = s["birthday"] & age
        flags = pl.DataFrame(
            {
                "rel": s["relation"], "age": age, "event": s["event"], "group": group,
                "row_ctx": row_ctx, "group_ctx": group_ctx, "bday_age": bday_age,
                "child": s["child"], "minor": minor,
            }
        )  # fmt: skip
        idx = ctx.arg_true().to_numpy()
        hits: list[int] = []
        ev: list[str | None] = []
        anchors: list[str] = []
        if len(idx):
            f = {c: flags[c].fill_null(False).to_numpy()[idx] for c in flags.columns}
            f["slug_names"] = ~f["child"]
            f["minor_row"] = f["minor"] | f["age"]
            keep = self._candidates(batch, idx, f)
            idx = idx[keep]
            # the row flags as Python lists once (one Series lookup per row and flag is slow)
            f = {c: v[keep].tolist() for c, v in f.items()}
        if len(idx):
            rows = pl.Series(idx)
            cols = {c: take_list(batch, c, rows) for c in ("text", "text_norm", "url_words")}
            for k, i in enumerate(idx.tolist()):
                raw = cols["text"][k] or ""
                tn, uw = cols["text_norm"][k], cols["url_words"][k]
                cjk = _CJK_CHAR.search(raw) is not None
                kin = bool(f["rel"][k]) or bool(f["age"][k]) or bool(f["event"][k])
                kin = kin or (bool(f["group"][k]) and NAME_LIST.search(raw) is not None)
                if not cjk and not kin and not self._any_name(tn) and not self._any_name(uw):
                    continue
                got = self._row(
                    raw,
                    tn,
                    uw,
                    bool(f["row_ctx"][k]),
                    bool(f["group_ctx"][k]),
                    cjk,
                    bool(f["bday_age"][k]),
                    bool(f["age"][k]),
                    not bool(f["child"][k]),
                    bool(f["minor"][k] or f["age"][k]),
                )
                if got is None:
                    continue
                found, anchor = got
                hits.append(i)
                shown = " ".join(dict.fromkeys(initials(x) for x in found[:3]))
                ev.append(f"name:{shown} context:{anchor}")
                anchors.append(anchor)
        score = scatter_floats(n, hits)
        out = result(self.name, n, score, sparse_strings(n, hits, ev), "child name")
        return out.append_column(f"{self.name}__anchor", sparse_strings(n, hits, anchors))

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: named children that fire, named adults, products and pets that do not."""
        return [
            Example("eu e meu filho Lucas (6) no primeiro jogo dele", lang="pt"),
            Example("Jess with her son Leo at the pumpkin patch", lang="en"),
            Example(
                "Decoração da festa",
                url="https://blog.example.com.br/2014/03/festa-5-anos-maria-clara.jpg",
                lang="pt",
            ),
            Example("ひよこ組のお絵かき。結菜ちゃん、蓮くん", lang="ja"),
            Example("La chanteuse et sa fille Rose, 6 ans, au défilé", lang="fr"),
            Example("Maria Fernanda, 35 anos, abriu uma confeitaria", fires=False, lang="pt"),
            Example("Vestido Infantil de Festa Rosa Tule Tam 4 anos", fires=False, lang="pt"),
            Example("Meet Baby, a 2-year-old beagle looking for a home", fires=False, lang="en"),
            Example("Sol e praia com as crianças", fires=False, lang="pt"),
        ]
