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

import polars as pl
import pyarrow as pa

from childguard.detect import screen
from childguard.detect._util import spread
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
DETAIL = (*POSITIVE, *NEGATIVE, "class_word", "possessive", "pet_words")
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
    + r", (?:aged? )?(?:[0-9]|1[0-7])(?:,| of \p{Lu})"
)

AT_HANDLE = r"(?:^|[^\w@])@[A-Za-z0-9_.]{3,}"
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
    date: str
    time: str
    weight: str
    length: str
    class_des: str
    class_num: str
    youth: str


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
    youth_short = alternation([*_short(g("youth_sport")), "u", "sub", "under", "jo", "mo"])
    youth = rf" (?:{youth_short}) (?:[6-9]|1[0-7])(?: |$)| (?:19|20)[0-9]{{2}} г р "
    terms = {
        c: word_patterns(g(c))
        for c in (*POSITIVE, *NEGATIVE, "class_word", "possessive", "pet_words")
    }
    terms["youth_sport"] = word_patterns([t for t in g("youth_sport") if len(t) > 3])
    terms["school"] = word_patterns([t for t in g("school") if len(t) > 2])
    context = sorted({p for c in POSITIVE for p in terms[c]})
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
    first = df.select(
        both.str.contains(f"{p.age_child}|{p.class_des}|{p.youth}").alias("shape"),
        raw=screen.contains_regex(batch.column("text"), RAW_SHAPE, RAW_PREFILTER),
    ).with_columns(
        ctx=screen.contains_any(batch.column("both_norm"), p.context_terms),
        host_school=screen.contains_any(batch.column("url_host"), HOST_SCHOOL),
    )
    cand = first["ctx"] | first["shape"] | first["raw"]
    n = df.height
    out = first.select("ctx", "host_school").with_columns(
        pl.lit(False).alias(c) for c in (*POSITIVE, *NEGATIVE)
    )
    extra = (
        "age_child", "class_des", "youth", "at", "paren_age", "adult_paren", "shirt_number",
        "pet_emoji", "age_adult", "date", "time", "weight", "length", "class_word", "class_num",
        "possessive",
    )  # fmt: skip
    out = out.with_columns(pl.lit(False).alias(c) for c in (*extra, "child_human")).with_columns(
        pl.lit(None, dtype=pl.String).alias("child_word")
    )
    if cand.any():
        idx = cand.arg_true()
        sub = df[idx]
        m = sub.select(
            both.str.extract_many(p.detail_terms, overlapping=True).alias("m")
        ).with_row_index("r")
        pairs = (
            m.explode("m")
            .drop_nulls("m")
            .join(p.pattern_category, on="m")
            .select("r", "m", "category")
            .unique(maintain_order=True)
        )
        # the child word itself, for evidence (first match in the caption, then the URL)
        words = (
            pairs.filter(pl.col("category").is_in(EVIDENCE_CATEGORIES))
            .group_by("r", maintain_order=True)
            .agg(pl.col("m").first().str.strip_chars(" "))
        )
        # a child word that nobody calls a pet ("girl", "kids", not "baby"): pets in the
        # row do not cancel it ("little girl hugging her dog")
        human = _human_rows(pairs, p.terms["pet_words"])
        child_human = spread(sub.height, human, pl.Series([True] * len(human), dtype=pl.Boolean))
        child_word = spread(sub.height, words["r"], words["m"])
        found = {str(c[0]): g["r"] for c, g in pairs.group_by("category", maintain_order=True)}
        flags = {}
        for c in DETAIL:
            rows = found.get(c, [])
            flags[c] = spread(sub.height, rows, pl.repeat(True, len(rows), eager=True))
        flags["stock"] = flags["stock"] | screen.contains_any(
            sub["url_host"].to_arrow(), HOST_STOCK
        )
        # regexes only where they can match: pass 1 said which rows have a shape (age, class,
        # age group) or a raw pattern; numbers are needed for adult ages and class numbers
        shape = first["shape"].gather(idx)
        raw = first["raw"].gather(idx)
        digits = sub["both_norm"].str.contains("[0-9]")
        raw_cols = _where(
            sub,
            raw,
            {
                "at": text_raw.str.contains(AT_HANDLE),
                "paren_age": text_raw.str.contains(PAREN_AGE),
                "shirt_number": text_raw.str.contains(SHIRT_NUMBER),
            },
        )
        # a shirt number is no age: neither the rules nor the scorer see it as one
        raw_cols["paren_age"] = raw_cols["paren_age"] & ~raw_cols["shirt_number"]
        detail = pl.DataFrame(
            {
                **_where(
                    sub,
                    shape,
                    {
                        "age_child": both.str.contains(p.age_child),
                        "class_des": both.str.contains(p.class_des),
                        "youth": both.str.contains(p.youth),
                    },
                ),
                **raw_cols,
                **_where(
                    sub,
                    digits,
                    {
                        "adult_paren": text_raw.str.contains(ADULT_PAREN),
                        "age_adult": both.str.contains(p.age_adult),
                        "class_num": both.str.contains(p.class_num),
                    },
                ),
                "pet_emoji": sub.select(text_raw.str.contains_any(PET_EMOJI))["text"],
            }
        ).with_columns(**flags, child_word=child_word, child_human=child_human)
        # dates, times and birth measures matter only next to ages, births and events
        need = (
            detail["age_child"] | flags["birth"] | flags["hospital"] | flags["birthday"]
            | flags["event"] | flags["relation"]
        )  # fmt: skip
        more = _where(
            sub,
            need,
            {
                "date": both.str.contains(p.date),
                "time": both.str.contains(p.time),
                "weight": both.str.contains(p.weight),
                "length": both.str.contains(p.length),
            },
        )
        detail = detail.with_columns(**more)
        out = out.with_columns(**{c: spread(n, idx, detail[c]) for c in detail.columns})
    return out.with_columns(cand.alias("candidate"))


def _human_rows(pairs: pl.DataFrame, pet_words: list[str]) -> list[int]:
    """Candidate rows with a child word that nobody calls a pet ("girl", "kids"; not "baby",
    and not "girl" inside "baby girl"): a pet in such a row does not cancel the child."""
    kids = pairs.filter(
        pl.col("category").is_in(["child", "child_ambiguous"]) & ~pl.col("m").is_in(pet_words)
    )
    if kids.is_empty():
        return []
    pets = pairs.filter(pl.col("m").is_in(pet_words)).select("r", pm="m").unique()
    # a child word is covered when it is part of a pet word matched in the same row
    covered = (
        kids.select("r", "m")
        .join(pets, on="r", how="left")
        .with_columns(
            pl.col("pm").str.contains(pl.col("m").str.strip_chars(), literal=True).fill_null(False)
        )
        .group_by("r", "m")
        .agg(pl.col("pm").any())
    )
    return covered.filter(~pl.col("pm"))["r"].unique().sort().to_list()


def _where(df: pl.DataFrame, mask: pl.Series, exprs: dict[str, pl.Expr]) -> dict[str, pl.Series]:
    """Boolean columns from `exprs`, evaluated only on the rows of `df` where `mask` is set."""
    if not mask.any():
        return {c: pl.repeat(False, df.height, dtype=pl.Boolean, eager=True) for c in exprs}
    j = mask.arg_true()
    part = df[j].select(**exprs)
    return {c: spread(df.height, j, part[c]) for c in exprs}


def negated(s: pl.DataFrame) -> pl.Series:
    """Rows whose minor words are about pets, dolls or the infant Jesus.

    Pets are called "baby" and given ages, but not "son", "daughter", "girl" or "kids": such a
    word keeps the row ("my daughter Harper (7) drew our cat", "little girl hugging her dog")."""
    pet = (s["neg_pet"] | s["pet_emoji"]) & ~s["relation"] & ~s["child_human"]
    return pet | s["neg_doll"] | s["neg_religious"]


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
