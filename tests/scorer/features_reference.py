"""The scorer's feature tokens as `feature_frame` built them before its vectorised rewrite
(FEATURE_VERSION 4, kept verbatim): the reference the new implementation must equal."""

from __future__ import annotations

import polars as pl

from childguard.detect.lexicon import word_languages
from childguard.detect.textnorm import fold_series
from childguard.scorer.features import (
    _CJK_RE,
    _WORD_ASCII,
    _WORD_RE,
    CONJUNCT,
    DETECTOR_FEATURES,
    SIGNAL_FEATURES,
    _evidence_words,
    _parent_of,
    _vocab_series,
    word_classes,
)


def _numbers(tok: pl.Expr) -> pl.Expr:
    v = tok.str.slice(0, 5).cast(pl.Int64, strict=False)
    return (
        pl.when(tok.str.len_chars() > 4)
        .then(pl.lit("<id>"))
        .when(v < 18)
        .then(pl.lit("<age>"))
        .when((v >= 1900) & (v <= 2035))
        .then(pl.lit("<year>"))
        .otherwise(pl.lit("<num>"))
    )


def _cjk_pairs(words: pl.DataFrame) -> pl.DataFrame:
    """CJK runs become character pairs (per-row Python on the few CJK tokens)."""
    rows, pos, out = [], [], []
    for r, p, w in words.select("row", "pos", "raw").iter_rows():
        pairs = [w[i : i + 2] for i in range(max(1, len(w) - 1))]
        for k, t in enumerate(pairs):
            rows.append(r)
            pos.append(p * 1000 + k)
            out.append(t)
    return pl.DataFrame(
        {"row": rows, "pos": pos, "tok": out},
        schema={"row": pl.UInt32, "pos": pl.Int64, "tok": pl.String},
    )


def _token_frame(col: pl.Series, rows: pl.Series, kind: str) -> pl.DataFrame:
    """Long frame (row, pos, tok) of placeholdered tokens of a caption (`kind="t"`, raw
    text) or URL-slug (`kind="u"`, textnorm's folded `url_words`) column."""
    keep, names = _vocab_series()
    df = pl.DataFrame({"row": rows, "s": col})
    if kind == "t":
        # ASCII captions (most web rows) take an ASCII-class regex, several times faster
        text = pl.col("s").fill_null("")
        ascii_ = text.str.len_bytes() == text.str.len_chars()
        words = pl.concat(
            [
                df.filter(ascii_).select("row", raw=text.str.extract_all(_WORD_ASCII)),
                df.filter(~ascii_).select("row", raw=text.str.extract_all(_WORD_RE)),
            ]
        ).sort("row")
    else:
        words = df.select("row", raw=pl.col("s").fill_null("").str.strip_chars().str.split(" "))
    words = (
        words.with_columns(pos=pl.int_ranges(0, pl.col("raw").list.len()))
        .explode("raw", "pos")
        .drop_nulls("raw")
        .filter(pl.col("raw") != "")
        .with_columns(pl.col("pos").cast(pl.Int64) * 1000)
    )
    cjk = words.filter(pl.col("raw").str.contains(_CJK_RE))
    words = words.filter(~pl.col("raw").str.contains(_CJK_RE))
    raw = pl.col("raw")
    if kind == "t":  # the scan's own fold (lower-case, accents folded; ASCII fast path)
        words = words.with_columns(w=fold_series(words["raw"]).str.strip_chars()).filter(
            pl.col("w") != ""  # marks alone (an emoji's variation selector) are no word
        )
    else:  # url_words are folded already
        words = words.with_columns(w=raw)
    is_digit = raw.str.contains(r"^[0-9]+$")
    if kind == "t":
        first = raw.str.slice(0, 1)
        tok = (
            pl.when(raw.str.starts_with("@"))
            .then(pl.lit("<handle>"))
            .when(is_digit)
            .then(_numbers(raw))
            .when(pl.col("w").is_in(names.implode()))
            .then(pl.lit("<name>"))
            .when((first != first.str.to_lowercase()) & ~pl.col("w").is_in(keep.implode()))
            .then(pl.lit("<cap>"))
            .otherwise(pl.col("w"))
        )
    else:
        tok = (
            pl.when(is_digit)
            .then(_numbers(raw))
            .when(
                raw.str.contains(r"^[0-9a-f]{5,}$") & raw.str.contains("[0-9]")
                | ((raw.str.len_chars() > 12) & ~raw.is_in(keep.implode()))
            )
            .then(pl.lit("<id>"))
            .when(raw.is_in(names.implode()))
            .then(pl.lit("<name>"))
            .otherwise(raw)
        )
    out = words.select("row", "pos", "w", tok=tok)
    if cjk.height:
        cj = _cjk_pairs(cjk)
        out = pl.concat([out, cj.with_columns(w=pl.col("tok")).select(out.columns)])
        out = out.sort("row", "pos")
    return out


def _url_vocabulary(ut: pl.DataFrame) -> pl.DataFrame:
    """URL-slug tokens other than lexicon words, names, ages and handles become `_`: the rest
    of a URL (upload years, CDN ids, size suffixes, file-name parts) says where a row was
    scraped, which a model would learn as a stand-in for the label."""
    allowed = pl.Series(
        sorted(_evidence_words() | {"<name>", "<age>", "<handle>"}), dtype=pl.String
    )
    return ut.with_columns(
        tok=pl.when(pl.col("tok").is_in(allowed.implode()))
        .then(pl.col("tok"))
        .otherwise(pl.lit("_"))
    )


def _class_grams(tf: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """Class bigrams and trigrams of a token frame: lexicon words as their class, placeholders
    as themselves, other words as `_` (runs of plain words alone make no gram)."""
    cls = tf.join(word_classes(), on="w", how="left").sort("row", "pos")
    c = (
        pl.when(pl.col("tok").str.starts_with("<"))
        .then(pl.col("tok"))
        .otherwise(pl.col("cls").fill_null("_"))
    )
    seq = cls.select("row", c=c)
    same1 = pl.col("row").shift(-1) == pl.col("row")
    same2 = pl.col("row").shift(-2) == pl.col("row")
    g = seq.with_columns(
        n1=pl.when(same1).then(pl.col("c").shift(-1)),
        n2=pl.when(same2).then(pl.col("c").shift(-2)),
    )
    plain = pl.col("c") == "_"
    bi = g.filter(pl.col("n1").is_not_null() & ~(plain & (pl.col("n1") == "_"))).select(
        "row", token=prefix + pl.col("c") + "_" + pl.col("n1")
    )
    tri = g.filter(
        pl.col("n2").is_not_null()
        & (
            (~plain).cast(pl.Int8)
            + (pl.col("n1") != "_").cast(pl.Int8)
            + (pl.col("n2") != "_").cast(pl.Int8)
            >= 2
        )
    ).select("row", token=prefix + pl.col("c") + "_" + pl.col("n1") + "_" + pl.col("n2"))
    uni = seq.filter(~plain).select("row", token=prefix + pl.col("c"))
    return pl.concat([uni, bi, tri])


def reference_feature_frame(table, sig: pl.DataFrame, rows, vocab: pl.Series | None = None) -> pl.DataFrame:
    """Every feature token of the given rows of a scored batch, as a long frame
    (row: position in `rows`, token), one row per distinct (row, token). Vectorised: this
    runs on every screened row of a scan.

    table: the prepared batch (pyarrow) with every caption detector's columns;
    sig: that batch's shared signals (`signals.compute`); rows: row positions; vocab: keep only
    these tokens (a model's: scoring joins on them, and most of a row's n-grams are not among
    them, so they need not be de-duplicated)."""
    n = len(rows)
    idx = pl.Series("i", list(rows) if not isinstance(rows, pl.Series) else rows, dtype=pl.UInt32)
    rid = pl.Series("row", range(n), dtype=pl.UInt32)
    sub = pl.from_arrow(table.select(["text", "url_words", "text_norm"])).gather(idx)
    parts: list[pl.DataFrame] = [pl.DataFrame({"row": rid, "token": ["bias"] * n})]
    s = sig.select([c for c in SIGNAL_FEATURES if c in sig.columns]).gather(idx)
    # features v7: a third-person possessive before a kinship or child word
    s = s.with_columns(parent_of=sub["text_norm"].fill_null("").str.contains(_parent_of()))
    sig_long = (
        s.with_columns(pl.all().fill_null(False))
        .with_columns(row=rid)
        .unpivot(index="row", variable_name="token")
        .filter(pl.col("value"))
        .select("row", token="s:" + pl.col("token"))
    )
    parts.append(sig_long)
    dets = [d for d in DETECTOR_FEATURES if f"{d}__score" in table.column_names]
    if dets:
        cols = {f"{d}__score": pl.from_arrow(table.column(f"{d}__score")).gather(idx) for d in dets}
        for d in dets:
            lab = f"{d}__label"
            cols[lab] = (
                pl.from_arrow(table.column(lab)).gather(idx).cast(pl.String)
                if lab in table.column_names
                else pl.repeat(None, n, dtype=pl.String, eager=True)
            )
        wide = pl.DataFrame(cols).with_columns(row=rid)
        long = pl.concat(
            [
                wide.select(
                    "row",
                    det=pl.lit(d),
                    score=pl.col(f"{d}__score").fill_null(0.0),
                    label=pl.col(f"{d}__label").fill_null("None"),
                )
                for d in dets
            ]
        ).filter(pl.col("score") > 0)
        tenths = (pl.col("score") * 10).round(0).cast(pl.Int64)
        parts.append(
            long.select(
                "row",
                a="d:" + pl.col("det"),
                b="d:" + pl.col("det") + ":" + pl.col("label"),
                c="d:"
                + pl.col("det")
                + ">="
                + (tenths // 10).cast(pl.String)
                + "."
                + (tenths % 10).cast(pl.String),
            )
            .unpivot(index="row", value_name="token")
            .select("row", "token")
        )
    ct = _token_frame(sub["text"], rid, "t")
    ut = _token_frame(sub["url_words"], rid, "u")
    ut = _url_vocabulary(ut)
    for prefix, tf in (("t:", ct), ("u:", ut)):
        uni = tf.filter(pl.col("tok") != "_").select("row", token=prefix + pl.col("tok"))
        # token frames are sorted by (row, pos): the next token is the next line of the same row
        same = pl.col("row").shift(-1) == pl.col("row")
        bi = tf.with_columns(nxt=pl.when(same).then(pl.col("tok").shift(-1))).drop_nulls("nxt")
        bi = bi.filter((pl.col("tok") != "_") | (pl.col("nxt") != "_"))
        bi = bi.select("row", token=prefix + pl.col("tok") + "_" + pl.col("nxt"))
        parts += [uni, bi]
    parts.append(_class_grams(ct, "k:"))
    parts.append(_class_grams(ut, "ku:"))
    parts.append(_language_tokens(ct, ut))
    counts = (
        pl.DataFrame({"row": rid})
        .join(
            ct.group_by("row").agg(
                n=pl.len(), names=pl.col("tok").is_in(["<name>", "<cap>"]).sum()
            ),
            on="row",
            how="left",
        )
        .join(ut.group_by("row").agg(un=(pl.col("tok") == "<name>").sum()), on="row", how="left")
        .fill_null(0)
    )
    cnt = (
        counts.select(
            "row",
            a="n:names=" + pl.min_horizontal("names", 3).cast(pl.String),
            b="n:urlnames=" + pl.min_horizontal("un", 3).cast(pl.String),
            c="n:len=" + pl.min_horizontal(pl.col("n") // 5, 8).cast(pl.String),
            e=pl.when(pl.col("n") == 0).then(pl.lit("n:no_text")),
        )
        .unpivot(index="row", value_name="token")
        .drop("variable")
        .drop_nulls("token")
    )
    parts.append(cnt)
    parts.append(_conjunctions(pl.concat([sig_long, cnt.select("row", "token")])))
    out = pl.concat(
        [p.select(pl.col("row").cast(pl.UInt32), pl.col("token").cast(pl.String)) for p in parts]
    )
    if vocab is not None:
        out = out.filter(pl.col("token").is_in(vocab.implode()))
    # order is irrelevant downstream (sums; explanations sort by weight, then token)
    return out.unique()


def _language_tokens(ct: pl.DataFrame, ut: pl.DataFrame) -> pl.DataFrame:
    """`l:<lang>`: the caption's language by its lexicon stopwords (the language with most
    hits, at least 2 and no tie); `s:lexlang_other` / `s:urllang_other`: the caption / URL
    slug holds child words, none of them of the caption's language ("chico" in an English
    caption is a name, Turkish "ay" in a URL fragment no month of age)."""
    wl = word_languages()
    stop = wl.filter(pl.col("kind") == "stop").select("w", "lang")
    child = wl.filter(pl.col("kind") == "child").select("w", "lang")
    counts = ct.select("row", "w").join(stop, on="w").group_by("row", "lang").agg(n=pl.len())
    best = (
        counts.sort(["row", "n", "lang"], descending=[False, True, False])
        .group_by("row", maintain_order=True)
        .agg(lang=pl.col("lang").first(), n=pl.col("n").first(), n2=pl.col("n").get(1, null_on_oob=True))
        .filter((pl.col("n") >= 2) & (pl.col("n2").is_null() | (pl.col("n") > pl.col("n2"))))
        .select("row", "lang")
    )
    parts = [best.select("row", token="l:" + pl.col("lang"))]
    for token, tf in (("s:lexlang_other", ct), ("s:urllang_other", ut)):
        hits = tf.select("row", "w").join(child, on="w").join(best, on="row", suffix="_row")
        other = hits.group_by("row").agg(same=(pl.col("lang") == pl.col("lang_row")).any())
        parts.append(other.filter(~pl.col("same")).select("row", token=pl.lit(token)))
    return pl.concat(parts)


def _conjunctions(flags: pl.DataFrame) -> pl.DataFrame:
    """`x:a&b` for every pair of the row's CONJUNCT groups (a < b)."""
    m = pl.DataFrame({"token": list(CONJUNCT), "g": list(CONJUNCT.values())})
    g = flags.join(m, on="token").select("row", "g").unique()
    pairs = g.join(g, on="row", suffix="2").filter(pl.col("g") < pl.col("g2"))
    return pairs.select("row", token="x:" + pl.col("g") + "&" + pl.col("g2"))


def reference_top_features(model, ff: pl.DataFrame, rows, head: str, top: int = 4) -> dict[int, list[str]]:
    """The scan's top features before the id path (`ScorerModel.top_ids`), kept verbatim as its
    reference: per row of `rows`, the features that raise the head's logit most (weight
    descending, then token)."""
    if not len(rows):
        return {}
    j = (
        ff.filter(pl.col("row").is_in(pl.Series(rows, dtype=pl.UInt32).implode()))
        .join(model._table().select("token", w=f"w_{head}"), on="token", how="inner")
        .filter(pl.col("w") > 0)
        .sort(["row", "w", "token"], descending=[False, True, False])
        .group_by("row", maintain_order=True)
        .head(top)
        .group_by("row", maintain_order=True)
        .agg("token")
    )
    return {int(r): t for r, t in j.iter_rows()}
