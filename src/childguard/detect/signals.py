"""Row signals shared by the caption/URL detectors, computed once per batch.

Two passes over every row: one automaton with every context term of every lexicon, and one
regex for ages; only rows that hit either (a few percent of web data) get the detailed
per-category matching. Every column is a boolean (or a small int) per row, so detectors and the
policy combine them with vector operations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect import screen
from childguard.detect.lexicon import Lexicon, alternation, load_lexicon, word_patterns

# Categories matched per row (on `both_norm` unless noted).
POSITIVE = (
    "child",
    "child_ambiguous",
    "child_model",
    "relation",
    "event",
    "birthday",
    "school",
    "youth_sport",
    "hospital",
    "birth",
    "first_day",
)
NEGATIVE = (
    "neg_product",
    "neg_pet",
    "neg_doll",
    "neg_religious",
    "neg_campaign",
    "neg_adult",
    "adult_person",
    "stock",
)
# Categories matched on candidate rows (one automaton; matches mapped back to categories).
DETAIL = (*POSITIVE, *NEGATIVE, "class_word", "possessive", "pet_words", "team_sport")
# Categories whose matched word is shown as child_terms evidence.
EVIDENCE_CATEGORIES = [
    "child_model",
    "child",
    "relation",
    "event",
    "youth_sport",
    "child_ambiguous",
]
# Pets and toys are often only an emoji away.
PET_EMOJI = ["🐶", "🐱", "🐾", "🐕", "🐈", "🐩", "🐰", "🐹", "🐴", "🐷"]

# School and daycare words inside domain names (substrings: hosts are not split into words).
HOST_SCHOOL = [
    "creche", "kita", "school", "escola", "escuela", "colegio", "przedszkole", "anaokulu",
    "ilkokul", "hoikuen", "youchien", "kinderopvang", "asilonido", "ecole", "kindergarten",
    "nursery", " paud", " sch id ", " k 12 ", " ed jp ", " edu pl ", " ds ", "detsad",
]  # fmt: skip

# Stock-photo libraries by host: their captions often drop the words "stock photo", and their
# children are models, shown but never named ("Happy 5 year old boy ... – zdjęcie" on iStock).
# News picture agencies (Getty, Reuters, AP) are left out: their captions name real children.
HOST_STOCK = [
    "shutterstock", "istockphoto", "dreamstime", "123rf", "depositphotos", "masterfile",
    "canstockphoto", "bigstockphoto", "fotolia", "ftcdn", "photodune", "pond5", "agefotostock",
    "superstock", "colourbox", "pixta", "stocksy", "featurepics", "alamy",
]  # fmt: skip

# Kinds of image host, by substring of the folded host (`url_host`): where a caption comes
# from says what its words usually mean ("boys" on a shop CDN is a size range, a named child in
# a news caption a real one). Scorer features only; no rule reads them. No "social" kind: every
# Reddit row of the labelled sample would carry it, and a model that explains those rows' pets
# by it raised P(minor) of every other row two- to threefold (a Children's Day sale 0.02 -> 0.07).
HOST_KINDS = {
    "host_pin": [" pinimg ", " pinterest "],
    "host_shop": [
        "shopify", "images amazon", "media amazon", "ssl images amazon", " ebayimg ", "etsystatic",
        " alicdn ", "walmartimages", "aliexpress", " made in china ", " dhresource ", " wish ",
        " ebay ", " mercadolivre ", " mlstatic ",
    ],
    "host_blog": [
        " wordpress ", " wp com ", " blogspot ", " blogger ", " squarespace ", " wixstatic ",
        " weebly ", " typepad ", " medium ",
    ],
    "host_news": [
        "news", "times ", "post ", "herald", "tribune", "gazette", "journal", "daily",
        "zeitung", "noticias", "jornal", "diario", "giornale", "nieuws", "gazeta", " bbci ",
        " bbc ", " nyt ", " cnn ", " reuters ", " apnews ", " guim ", " telegraph ",
        " independent ", "arcpublishing", "brightspotcdn", " spiegel ", " faz ", " zeit ",
        " lemonde ", " globo ", " uol ", " elpais ", " corriere ", " repubblica ", " nypost ",
        " foxnews ", " usatoday ", " gannett ", " express ", " mirror ", " thesun ",
    ],
    "host_photo": [
        "staticflickr", " flickr ", " smugmug ", " photoshelter ", " 500px ", " zenfolio ",
        " pbase ", " deviantart ", " pixieset ",
    ],
}  # fmt: skip

# A capitalised name followed by a child's age in brackets or between commas: "Lucas (6)",
# "Finn, 5,", "Lieke Jansen (11)". On the raw caption (parentheses matter).
# Not at the end of the caption: "Vesteralen (8)" is the 8th photo of a series.
# News captions put a position between the name and the age ("Kat J. (right), 10, of M.") and
# drop the comma before "of <town>" ("Sara S., 11 of Stamford").
_POS = r"(?: \([^()]{1,24}\))?"
ADULT_PAREN = (
    r"\p{Lu}\p{Ll}+,? \((?:1[89]|[2-9][0-9])\)|\p{Lu}\p{Ll}+" + _POS + r", (?:1[89]|[2-9][0-9])[,\s]"
)
PAREN_AGE = (
    r"\p{Lu}\p{Ll}+,? \((?:[0-9]|1[0-7])\)\s*[^\s]|\p{Lu}\p{Ll}+"
    + _POS
    + r", (?:aged? )?(?:[0-9]|1[0-7])(?:,(?:[^0-9]|$)| of \p{Lu})"
)

AT_HANDLE = r"(?:^|[^\w@])@[A-Za-z0-9_.]{3,}"
# military and naval ranks with an ordinal class (on the normalised text: "1st" is "1 st")
MILITARY_CLASS = (
    r" (?:airman|airmen|seaman|seamen|petty officer|private|specialist|fireman|hospitalman|"
    r"sailor|sailors|cadet|cadets) (?:1 st|2 nd|3 rd|first|second|third) class "
)
# A player's shirt number, not an age: "quarterback Tom Brady (12)", "catcher F. P. (12)".
_SPORT_ROLE = (
    r"(?i:quarterback|qb|pitcher|catcher|kicker|punter|receiver|linebacker|lineman|tackle|"
    r"running back|tight end|cornerback|safety|forward|guard|center|centre|defender|"
    r"defen[cs]eman|midfielder|striker|goalkeeper|goalie|keeper|winger|fullback|halfback|"
    r"shortstop|outfielder|infielder|baseman|hitter|batter|player|captain)"
)
# ... or a name, a bracketed number and a game verb: "Jose R. (11) hits a home run"
_GAME_VERB = (
    r"(?i:dribbles|hits|shoots|scores|throws|passes|catches|celebrates|reacts|tackles|kicks|"
    r"pitches|blocks|dunks|rushes|returns|carries|skates|battles|defends|drives to|runs with|"
    r"goes up|against)"
)
SHIRT_NUMBER = (
    _SPORT_ROLE
    + r"\s+(?:\p{Lu}[\p{L}'’.-]*\s+){1,3}\((?:[0-9]{1,2})\)"
    + r"|(?:\p{Lu}[\p{L}'’.-]*\s+){1,3}\((?:[0-9]{1,2})\)\s+"
    + _GAME_VERB
)
# What pass 1 looks for in the raw caption, and a looser form of it without anchors and
# Unicode classes for the hyperscan prefilter (`screen.contains_regex`): a handle's "@" and
# three characters, an age in brackets, an age between commas.
RAW_SHAPE = f"{AT_HANDLE}|{PAREN_AGE}"
RAW_PREFILTER = (
    r"@[A-Za-z0-9_.]{3}|\((?:[0-9]|1[0-7])\)|, (?:aged? )?(?:[0-9]|1[0-7])(?:,| of )"
)

_CHILD_N = r"(?:[0-9]|1[0-7])"
# "wird heute 5", "turns 3 today", "fez hoje 2": a birthday verb, maybe "today", a number
_TODAY = r"(?:(?:heute|today|hoje|hoy|oggi|vandaag|dzis|dzisiaj|bugun|сегодня) )?"
_ADULT_N = r"(?:1[89]|[2-9][0-9]|1[01][0-9])"
# a number of years, months, weeks or days after these is a duration, not an age ("há 5 anos",
# "en apenas 7 años", "il y a 3 ans", "vor 2 Jahren", "for 28 days", "за 5 лет"); so is a term
# of prison ("11 лет тюрьмы", "5 años de prisión"). Not "com apenas 5 anos" (at only five) nor
# Italian "ha 5 anni" (is five): "ha" is Portuguese "há" only before Portuguese units.
_DURATION_BEFORE = (
    r"(?:hace|durante|desde|por|apos|depois de|il y a|pendant|depuis|vor|seit|nach|fur|за|"
    r"через|после|since|last|past|next"
    r"|(?:en|em|in|within|after|for|over)(?: apenas| solo| so| just| only)?)"
)
# the units as bare words, normalised (no "years old", "yo", "mo": those are ages)
_DURATION_UNITS = (
    r"(?:years?|anos?|ans?|annees|jahre|jahren|jahr|лет|года|год|anni|anno|jaar|jaren|yil|tahun"
    r"|lat|months?|meses|mes|mois|monate|monaten|monat|месяцев|месяца|месяц|mesi|mese|maanden"
    r"|maand|bulan|weeks?|semanas?|semaines?|wochen|woche|недель|settimane|weken"
    r"|days?|dias?|jours?|tage|tagen|tag|дней|дня|giorni|dagen|hari|dni)"
)
_PRISON = (
    r"(?:de prisao|de prision|de carcel|de prison|de reclusao|de condena|haft|тюрьмы|колонии|"
    r"in prison|of prison|in jail)"
)
_CJK_AGE_Y = "(?:歳|さい|才|岁|歲)"
_CJK_AGE_M = "(?:ヶ月|か月|カ月|ケ月|个月|個月)"
_LETTER = "[a-hа-е]"


@dataclass(frozen=True)
class Patterns:
    """Every lexicon-derived automaton and regex the shared signals use, built once per lexicon."""
    context_terms: list[str]  # every positive term, one automaton
    terms: dict[str, list[str]]  # category -> automaton patterns
    detail_terms: list[str]  # every pattern of every detail category, one automaton
    pattern_category: pl.DataFrame  # pattern -> category (a pattern may be in several)
    age_child: str
    age_adult: str
    duration: str
    aged_old: str
    date: str
    time: str
    weight: str
    length: str
    class_des: str
    class_num: str
    youth: str


# age-group words that name a youth team only before an age: "U12", "sub 15", "under 10"
_AGE_GROUP_PREFIXES = ("u", "sub", "under", "jo", "mo")


def _short(terms: list[str], n: int = 3) -> list[str]:
    return [t for t in terms if len(t) <= n and " " not in t]


@lru_cache(maxsize=4)
def patterns(lex_dir: str | None = None) -> Patterns:
    """The compiled patterns for a lexicon directory (cached; default: the shipped lexicons)."""
    lex: Lexicon = load_lexicon(lex_dir)
    g = lex.get
    years = alternation([t for t in g("age_years")])
    months_u = alternation(g("age_months"))
    days_u = alternation(g("age_days"))
    prefix = alternation(g("age_prefix"))
    bday = alternation([t for t in g("birthday") if len(t) > 3])
    ordinal = r"(?:th|st|nd|rd|o|a|e|er|eme|ste|te|de|ci|inci|nci)"
    age_child = (
        rf" {_CHILD_N} (?:{years})(?: |$)"
        rf"| [0-9]{{1,2}} (?:{months_u}|{days_u})(?: |$)"
        rf"| (?:{prefix}) {_CHILD_N} "
        rf"| {_CHILD_N} (?:{ordinal} )?(?:{bday})(?: |$)"
        rf"| (?:{bday}) (?:de |do |da |des |number |numero |no |ke |the |di )?{_TODAY}{_CHILD_N} "
        rf"|{_CHILD_N} ?{_CJK_AGE_Y}|[0-9]{{1,2}} ?{_CJK_AGE_M}"
    )
    age_adult = (
        rf" {_ADULT_N} (?:{years})(?: |$)| (?:{prefix}) {_ADULT_N} "
        rf"| {_ADULT_N} (?:{ordinal} )?(?:{bday})(?: |$)"
        rf"| (?:{bday}) (?:de |do |da |des |number |numero |no |ke |the |di )?{_ADULT_N} "
        rf"|{_ADULT_N} ?{_CJK_AGE_Y}"
    )
    # rows whose only child age is one of these keep no age (`compute`)
    duration = (
        rf" {_DURATION_BEFORE} {_CHILD_N} {_DURATION_UNITS} "
        rf"| ha {_CHILD_N} (?:anos|meses|dias|semanas) "
        rf"| {_CHILD_N} (?:{years}) {_PRISON} "
    )
    # ... unless an English age says "old": "concerned for 13-year-old Leah"
    aged_old = rf" {_CHILD_N} (?:years?|months?|days?|weeks?|yrs?) old "
    month = alternation([t for t in g("month") if not re.search(r"\d", t)])
    day = r"(?:[0-2]?[0-9]|3[01])"
    year = r"(?:19|20)[0-9]{2}"
    date = (
        rf" {day} {day} {year} | {year} [01]?[0-9] {day} "
        rf"| {day} (?:de )?(?:{month})(?: de)?(?: {year})?(?: |$)"
        rf"| (?:{month}) {day} {year} "
        rf"|{year} ?年 ?[0-9]{{1,2}} ?月|[0-9]{{1,2}} ?月 ?[0-9]{{1,2}} ?日|令和|平成"
    )
    time = (
        r" [0-2]?[0-9] h [0-5][0-9] | [0-2]?[0-9] [0-5][0-9] (?:am|pm|uhr|wib|h|hs) "
        r"| (?:as|at|um|las|alle|om|o|saat|pukul|в|a|ore) [0-2]?[0-9] [0-5][0-9] "
        r"|[0-2]?[0-9] ?時 ?[0-5]?[0-9] ?分"
    )
    weight = (
        r" [1-5] [0-9]{1,3} (?:kg|kilo|кг) | [1-5][0-9]{3} (?:g|gr|gram|grams|gramas|gramos"
        r"|grammi|gramm|gramów|г) | [1-5] [0-9]{3} (?:g|gr|г) | [4-9] lb [0-9]{1,2} oz "
        r"| bb [1-5] [0-9] kg | [1-5][0-9]{3} ?g ?[4-5][0-9] ?cm"
    )
    length = r" (?:4[4-9]|5[0-6]) (?:cm|см) "
    cw = alternation(g("class_word"))
    # a class of pupils: grade and letter ("3º ano B", "Klasse 2b", "2 «Б» класс", "2年3組")
    class_des = (
        rf" [1-9] (?:o |a |aa |st |nd |rd |th |e |eme |ª )?(?:{cw}) {_LETTER} "
        rf"| (?:{cw}) [1-9] {_LETTER} "
        rf"| [1-9] {_LETTER} (?:{cw}) "
        rf"| [1-9] (?:st|nd|rd|th) (?:grade|class|form) "
        rf"| (?:maternal|jardim|pre|pré) (?:i|ii|iii|[1-5]) "
        rf"|[0-9] ?年 ?[0-9] ?組|(?:小学校|中学校) ?[0-9] ?年"
        rf"|(?:ce|cm) [12] {_LETTER} "
    )
    # a class word and a number only ("Groep 4", "Year 6", "klasse 3"): a class only when the
    # row is about a minor anyway
    class_num = rf" (?:{cw}) (?:[1-9]|1[0-2]) "
    youth_short = alternation([*_short(g("youth_sport")), *_AGE_GROUP_PREFIXES])
    # an age group, a Russian birth-year group ("2012 г.р."), an Argentine/Spanish category
    # by birth year ("Categoría 2013")
    youth = (
        rf" (?:{youth_short}) (?:[6-9]|1[0-7])(?: |$)| (?:19|20)[0-9]{{2}} г р "
        rf"| categoria (?:19|20)[0-9]{{2}} "
    )
    terms = {
        c: word_patterns(g(c))
        for c in (*POSITIVE, *NEGATIVE, "class_word", "possessive", "pet_words", "team_sport")
    }
    # an age-group prefix is a youth team only before an age ("under 12", not "under the pier")
    terms["youth_sport"] = word_patterns(
        [t for t in g("youth_sport") if len(t) > 3 and t not in _AGE_GROUP_PREFIXES]
    )
    terms["school"] = word_patterns([t for t in g("school") if len(t) > 2])
    # terms that alone are no reason to look closer (the screen skips them; details keep them)
    weak = set(word_patterns(g("not_alone")))
    context = sorted({p for c in POSITIVE for p in terms[c]} - weak)
    pairs = sorted({(t, c) for c in DETAIL for t in terms[c]})
    return Patterns(
        context_terms=context,
        terms=terms,
        detail_terms=sorted({t for t, _ in pairs}),
        pattern_category=pl.DataFrame(
            {"m": [t for t, _ in pairs], "category": [c for _, c in pairs]}
        ),
        age_child=age_child,
        age_adult=age_adult,
        duration=duration,
        aged_old=aged_old,
        date=date,
        time=time,
        weight=weight,
        length=length,
        class_des=class_des,
        class_num=class_num,
        youth=youth,
    )


def _any(col: pl.Expr, pats: list[str]) -> pl.Expr:
    return col.str.contains_any(pats) if pats else pl.lit(False)


@dataclass(frozen=True)
class DetailTable:
    """What each detail pattern stands for, as numpy arrays indexed by pattern id (the
    pattern's position in `Patterns.detail_terms`)."""

    terms: pl.Series  # the patterns (Enum codes are their ids)
    words: pl.Series  # the patterns stripped of spaces, then one null (the evidence word)
    category: np.ndarray  # (pattern, DETAIL category) -> bool
    evidence: np.ndarray  # pattern is in an EVIDENCE category
    kid: np.ndarray  # pattern is a child word ("child", "child_ambiguous") and no pet word
    pet: np.ndarray  # pattern is a pet word
    covers: dict[int, frozenset[int]]  # kid pattern -> pet patterns that contain it


@lru_cache(maxsize=4)
def detail_table(lex_dir: str | None = None) -> DetailTable:
    """The detail patterns' categories and evidence/pet roles (cached per lexicon)."""
    p = patterns(lex_dir)
    ids = {t: i for i, t in enumerate(p.detail_terms)}
    cat = np.zeros((len(ids), len(DETAIL)), bool)
    for t, c in p.pattern_category.iter_rows():
        cat[ids[t], DETAIL.index(c)] = True
    pets = set(p.terms["pet_words"])
    pet = np.array([t in pets for t in p.detail_terms], bool)
    child = cat[:, [DETAIL.index("child"), DETAIL.index("child_ambiguous")]].any(axis=1)
    kid = child & ~pet
    pet_terms = [(ids[t], t) for t in sorted(pets)]
    covers = {
        int(k): frozenset(q for q, t in pet_terms if p.detail_terms[k].strip() in t)
        for k in np.flatnonzero(kid)
    }
    stripped = [t.strip(" ") for t in p.detail_terms]
    return DetailTable(
        terms=pl.Series(p.detail_terms, dtype=pl.String),
        words=pl.Series([*stripped, None], dtype=pl.String),
        category=cat,
        evidence=cat[:, [DETAIL.index(c) for c in EVIDENCE_CATEGORIES]].any(axis=1),
        kid=kid,
        pet=pet,
        covers=covers,
    )


def _matches(col: pl.Series, p: Patterns) -> tuple[np.ndarray, np.ndarray]:
    """Every detail pattern found in each row of `col`, in the automaton's order: (row, id)."""
    m = col.str.extract_many(p.detail_terms, overlapping=True)
    lens = m.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = m.explode().drop_nulls()
    rows = np.repeat(np.arange(len(col), dtype=np.int64), lens)
    if len(flat) != len(rows):  # pragma: no cover - extract_many gives no null matches
        raise AssertionError("null match in extract_many")
    pids = flat.cast(pl.Enum(p.detail_terms)).to_physical().to_numpy().astype(np.int64)
    return rows, pids


def compute(batch: pa.Table, lex_dir: str | None = None) -> pl.DataFrame:
    """Signals for every row of a prepared batch (the engine computes them once per batch and
    hands them to detectors in `BatchContext.signals`)."""
    p = patterns(lex_dir)
    df = pl.from_arrow(batch.select(["text", "both_norm", "text_norm", "url_words", "url_host"]))
    assert isinstance(df, pl.DataFrame)
    both = pl.col("both_norm")
    # pass 1, every row: one automaton, one regex over the normalised text, one over the raw
    text_raw = pl.col("text").fill_null("")
    # (hyperscan is no faster than Polars' regex on the age/class shapes: no literal to anchor
    # on but a space and a digit)
    shape_all = df.select(both.str.contains(f"{p.age_child}|{p.class_des}|{p.youth}"))
    ctx = screen.contains_any(batch.column("both_norm"), p.context_terms)
    host_school = screen.contains_any(batch.column("url_host"), HOST_SCHOOL)
    raw_all = screen.contains_regex(batch.column("text"), RAW_SHAPE, RAW_PREFILTER)
    cand = ctx | shape_all.to_series() | raw_all
    n = df.height
    extra = (
        "age_child", "class_des", "youth", "at", "paren_age", "shirt_number", "adult_paren",
        "age_adult", "class_num", "pet_emoji",
    )  # fmt: skip
    later = ("date", "time", "weight", "length")
    # every detail column, as one boolean row per column, filled on the candidate rows only
    detail = np.zeros((len(DETAIL) + len(extra) + len(later) + 1, n), bool)
    at = {c: i for i, c in enumerate((*DETAIL, *extra, *later, "child_human"))}
    word_at = None
    host_kind = {kind: np.zeros(n, bool) for kind in HOST_KINDS}  # candidate rows only
    if cand.any():
        idx = cand.arg_true().to_numpy().astype(np.int64)
        sub = df[idx]
        table = detail_table(lex_dir)
        rows, pids = _matches(sub["both_norm"], p)
        hit = np.zeros((sub.height, len(DETAIL)), bool)
        r, c = np.nonzero(table.category[pids])
        hit[rows[r], c] = True
        hosts = sub["url_host"].to_arrow()
        hit[:, DETAIL.index("stock")] |= screen.contains_any(hosts, HOST_STOCK).to_numpy()
        for kind, terms in HOST_KINDS.items():
            host_kind[kind][idx] = screen.contains_any(hosts, terms).to_numpy()
        # the child word itself, for evidence: the first evidence match in the caption, then
        # the URL, whatever else the batch holds (the join this replaced gave pattern order in
        # small batches and match order in large ones: "girl" or "little girl" for one row)
        ev = np.flatnonzero(table.evidence[pids])
        first_rows, first = np.unique(rows[ev], return_index=True)
        word_at = np.full(n, len(table.words) - 1, np.int64)
        word_at[idx[first_rows]] = pids[ev[first]]
        # a child word that nobody calls a pet ("girl", "kids", not "baby"): pets in the
        # row do not cancel it ("little girl hugging her dog")
        human = _human_rows(rows, pids, table)
        # regexes only where they can match: pass 1 said which rows have a shape (age, class,
        # age group) or a raw pattern; numbers are needed for adult ages and class numbers
        shape = shape_all.to_series().to_numpy()[idx]
        raw = raw_all.to_numpy()[idx]
        digits = sub["both_norm"].str.contains("[0-9]").to_numpy()
        cols = _where(
            sub,
            raw,
            {
                "at": text_raw.str.contains(AT_HANDLE),
                "paren_age": text_raw.str.contains(PAREN_AGE),
                "shirt_number": text_raw.str.contains(SHIRT_NUMBER),
            },
        )
        # a shirt number is no age: neither the rules nor the scorer see it as one
        cols["paren_age"] &= ~cols["shirt_number"]
        cols |= _where(
            sub,
            shape,
            {
                "age_child": both.str.contains(p.age_child),
                "class_des": both.str.contains(p.class_des),
                "youth": both.str.contains(p.youth),
            },
        )
        # a duration is no age ("en apenas 7 años produce", "11 лет тюрьмы"): where one matches,
        # the age must match again with the durations taken out
        dur = _where(sub, cols["age_child"], {"d": both.str.contains(p.duration)})["d"]
        if dur.any():
            left = without_durations(both, p).str.contains(p.age_child)
            cols["age_child"] &= ~dur | _where(sub, dur, {"a": left})["a"]
        # "Airman 1st Class D. K." is a military rank, no class of pupils
        cols["class_des"] &= ~_where(
            sub, cols["class_des"], {"rank": both.str.contains(MILITARY_CLASS)}
        )["rank"]
        cols |= _where(
            sub,
            digits,
            {
                "adult_paren": text_raw.str.contains(ADULT_PAREN),
                "age_adult": both.str.contains(p.age_adult),
            },
        )
        # a class number needs a class word, which the automaton found: "groep 4" holds " groep "
        cols |= _where(
            sub,
            digits & hit[:, DETAIL.index("class_word")],
            {"class_num": both.str.contains(p.class_num)},
        )
        cols["pet_emoji"] = sub.select(text_raw.str.contains_any(PET_EMOJI))["text"].to_numpy()
        # dates, times and birth measures matter only next to ages, births and events
        d = DETAIL.index
        need = cols["age_child"] | hit[:, [d(c) for c in _NEED]].any(axis=1)
        cols |= _where(
            sub,
            need,
            {
                "date": both.str.contains(p.date),
                "time": both.str.contains(p.time),
                "weight": both.str.contains(p.weight),
                "length": both.str.contains(p.length),
            },
        )
        detail[: len(DETAIL), idx] = hit.T
        for name, v in cols.items():
            detail[at[name], idx[v]] = True
        detail[at["child_human"], idx[human]] = True
    out = {"ctx": ctx, "host_school": host_school}
    for kind, col in host_kind.items():
        out[kind] = pl.Series(kind, col)
    for name in _ORDER:
        out[name] = pl.Series(name, detail[at[name]])
    words = detail_table(lex_dir).words
    out["child_word"] = (
        pl.repeat(None, n, dtype=pl.String, eager=True)
        if word_at is None
        else words.gather(pl.Series(word_at))
    )
    if word_at is not None:  # (the column only exists where some row is a candidate)
        out["pet_words"] = pl.Series(detail[at["pet_words"]])
    out["candidate"] = cand
    return pl.DataFrame([v.alias(k) for k, v in out.items()])


# Rows that get the date/time/weight/length regexes: an age, a birth, a hospital, a
# birthday, an event or a relation.
_NEED = ("birth", "hospital", "birthday", "event", "relation")
# The boolean signal columns in their order (detectors read them by name; the order is kept).
_ORDER = (
    *POSITIVE, *NEGATIVE, "age_child", "class_des", "youth", "at", "paren_age", "adult_paren",
    "shirt_number", "pet_emoji", "age_adult", "date", "time", "weight", "length", "class_word",
    "class_num", "possessive", "child_human", "team_sport",
)  # fmt: skip


def _human_rows(rows: np.ndarray, pids: np.ndarray, table: DetailTable) -> np.ndarray:
    """Rows with a child word that nobody calls a pet ("girl", "kids"; not "baby", and not
    "girl" inside "baby girl"): a pet in such a row does not cancel the child."""
    kid = table.kid[pids]
    if not kid.any():
        return np.zeros(0, np.int64)
    pet_rows = np.unique(rows[table.pet[pids]])
    with_pet = np.isin(rows, pet_rows)
    # rows without a pet word: any child word counts
    plain = np.unique(rows[kid & ~with_pet])
    # the few rows with both: human when some child word is not part of a pet word matched
    # in the same row
    human_rows = []
    sel = np.flatnonzero(with_pet & (kid | table.pet[pids]))
    by_row: dict[int, tuple[set[int], set[int]]] = {}
    for i in sel:
        kids, pets = by_row.setdefault(int(rows[i]), (set(), set()))
        (kids if table.kid[pids[i]] else pets).add(int(pids[i]))
    for row, (kids, pets) in by_row.items():
        if any(not (table.covers[k] & pets) for k in kids):
            human_rows.append(row)
    return np.union1d(plain, np.asarray(human_rows, np.int64))


def _where(df: pl.DataFrame, mask: np.ndarray, exprs: dict[str, pl.Expr]) -> dict[str, np.ndarray]:
    """Boolean columns from `exprs`, evaluated only on the rows of `df` where `mask` is set."""
    out = {c: np.zeros(df.height, bool) for c in exprs}
    j = np.flatnonzero(mask)
    if j.size:
        part = df[j].select(**exprs)
        for c in exprs:
            out[c][j] = part[c].to_numpy()
    return out


def without_durations(text: pl.Expr, p: Patterns) -> pl.Expr:
    """`text` (normalised) with its durations and prison terms blanked, unless an English age
    in it says "old" ("concerned for 13-year-old L."): what is left holds only real ages."""
    return (
        pl.when(text.str.contains(p.aged_old))
        .then(text)
        .otherwise(text.str.replace_all(p.duration, " "))
    )


def negated(s: pl.DataFrame) -> pl.Series:
    """Rows whose minor words are about pets, dolls or the infant Jesus.

    Pets are called "baby" and given ages, but not "son", "daughter", "girl" or "kids": such a
    word keeps the row ("my daughter Harper (7) drew our cat", "little girl hugging her dog")."""
    pet = (s["neg_pet"] | s["pet_emoji"]) & ~s["relation"] & ~s["child_human"]
    # a named child's age keeps a nativity play ("Kat J., 10, portrays Mary holding baby Jesus")
    religious = s["neg_religious"] & ~s["paren_age"]
    return pet | s["neg_doll"] | religious


def minor_subject(s: pl.DataFrame) -> pl.Series:
    """A minor is the subject: strong child words, a child model, a class of pupils, or a
    kinship word outside adult contexts; not pets, dolls, figurines, campaigns or products."""
    school_day = s["first_day"] & (s["school"] | s["host_school"])
    strong = s["child"] | s["class_des"] | s["youth"] | s["youth_sport"] | s["event"] | school_day
    amb = s["child_ambiguous"] & ~s["adult_person"] & ~s["neg_adult"]
    # "son"/"daughter" alone may be an adult's; with "my/our" or a child's age, a minor
    rel = (
        s["relation"]
        & (s["possessive"] | s["age_child"] | s["paren_age"])
        & ~s["neg_adult"]
        & ~(s["age_adult"] & ~s["age_child"])
    )
    # campaigns and Children's Day sales use child words without a child ("Kids First Appeal");
    # they do not cancel a named child or an age ("Isabella, 9, raised £500 for charity")
    base = (strong | amb | rel) & ~negated(s) & ~s["neg_product"] & ~s["neg_campaign"]
    base = base & ~(s["neg_adult"] & ~s["age_child"] & ~s["child"] & ~s["event"])
    return base | (s["child_model"] & ~negated(s))


def child_age(s: pl.DataFrame) -> pl.Series:
    """An age under 18 that is a person's, not a warranty, a size, a company's or a pet's."""
    age = s["age_child"] | s["paren_age"]
    return age & ~negated(s) & ~(s["neg_product"] & ~s["child_model"]) & ~s["neg_adult"]
