"""`childguard eval`: measure the detectors and policy on a labelled file.

Labels are `identifiable_child`, `child` or `none` (`clean` is read as `none`). Printed per
language and overall: precision, recall and F1 for `identifiable_child`, recall for any minor
(a `child` or `identifiable_child` row predicted anything but clean), and the false-positive
rate (a `none` row predicted anything but clean). Misclassified rows are written redacted:
caption words reduced to initials except lexicon vocabulary, the URL to its host tail and
initials, never a full name, caption or URL.

Scoring runs in-process through `childguard.engine.batch` (the same code a scan runs per batch).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import polars as pl

    from childguard.policy import Policy

URL_COLUMNS = ("url", "URL", "image_url", "img_url", "link")
TEXT_COLUMNS = ("text", "TEXT", "caption", "alt", "alt_text", "title", "Title")
LABELS = ("identifiable_child", "child", "none")
MISCLASSIFIED_FILE = "misclassified.csv"
METRICS_FILE = "metrics.json"


class EvalError(ValueError):
    """A labelled file that cannot be read or lacks the label/URL/text columns."""
    pass


@dataclass
class GroupMetrics:
    """Confusion counts of one language group (or ALL), with the figures derived."""
    group: str
    rows: int = 0
    tp: int = 0  # identifiable_child predicted identifiable_child
    fp: int = 0
    fn: int = 0
    minors: int = 0
    minors_found: int = 0
    negatives: int = 0
    negatives_flagged: int = 0

    @property
    def precision(self) -> float:
        """identifiable_child precision (1.0 when nothing was predicted)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """identifiable_child recall (1.0 when there are none)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """identifiable_child F1 (0.0 when precision and recall are both 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def minor_recall(self) -> float:
        """Share of minor rows (child or identifiable_child) flagged at all."""
        return self.minors_found / self.minors if self.minors else 1.0

    @property
    def fpr(self) -> float:
        """Share of `none` rows flagged (false-positive rate)."""
        return self.negatives_flagged / self.negatives if self.negatives else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The counts and rounded figures as a dict (for metrics.json)."""
        return {
            "group": self.group,
            "rows": self.rows,
            "identifiable_child": {
                "tp": self.tp,
                "fp": self.fp,
                "fn": self.fn,
                "precision": round(self.precision, 4),
                "recall": round(self.recall, 4),
                "f1": round(self.f1, 4),
            },
            "minor_recall": round(self.minor_recall, 4),
            "false_positive_rate": round(self.fpr, 4),
        }


@dataclass
class EvalResult:
    """An evaluation: per-language and overall metrics, redacted misclassified rows."""
    groups: list[GroupMetrics]
    overall: GroupMetrics
    misclassified: pl.DataFrame
    detectors: list[dict[str, Any]] = field(default_factory=list)
    missing_detectors: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str:
    if wanted:
        if wanted not in columns:
            raise EvalError(f"column {wanted!r} ({what}) not found; columns: {columns}")
        return wanted
    for c in candidates:
        if c in columns:
            return c
    raise EvalError(f"no {what} column found (tried {', '.join(candidates)}); columns: {columns}")


def read_labelled_file(path: Path) -> pl.DataFrame:
    """A labelled file by its suffix: parquet, JSONL/NDJSON, TSV or CSV (text columns read as
    strings, so a label or a language never turns into a number)."""
    import polars as pl

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path, infer_schema_length=None)
        if suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            return pl.read_csv(path, separator=sep, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise EvalError(f"cannot read {path}: {e}") from None
    raise EvalError(f"{path}: not a labelled file (.parquet, .jsonl, .ndjson, .csv or .tsv)")


def _normalise_labels(labels: pl.Series, path: Path, label_col: str) -> pl.Series:
    import polars as pl

    lab = labels.cast(pl.String).str.strip_chars().str.to_lowercase().replace({"clean": "none"})
    bad = lab.is_null() | ~lab.is_in(list(LABELS))
    if bad.any():
        i = int(bad.arg_true()[0])
        raise EvalError(
            f"{path}: row {i}, column {label_col!r}: label {labels[i]!r} is not one of "
            f"{', '.join(LABELS)} (or clean)"
        )
    return lab


def _detectors(policy: Policy, options: dict | None = None) -> tuple[list, list[str]]:
    """The policy's detectors; ones that cannot be built here are scored 0 and reported."""
    from childguard.detect import REGISTRY, DetectorError, load_builtin

    load_builtin()
    names = list(policy.detectors) if policy.detectors else REGISTRY.names()
    dets = []
    missing = []
    for n in names:
        try:
            d = REGISTRY.create([n], options or {})
            d[-1].ensure_setup()
        except (DetectorError, OSError, ValueError) as e:
            missing.append(f"{n} ({e})")
            continue
        dets.extend(x for x in d if x.name not in {y.name for y in dets})
    return dets, missing


def _score(table: pl.DataFrame, policy: Policy, dets: list, batch_size: int) -> pl.DataFrame:
    """Risk, rule and redacted reasons for every row (batches through the scan's code)."""
    import polars as pl
    import pyarrow as pa

    from childguard.engine.batch import score_batch

    versions = {d.name: d.version for d in dets}
    out = []
    for start in range(0, table.height, batch_size):
        part = table.slice(start, batch_size)
        batch = pa.table(
            {
                "row_index": pa.array(range(start, start + part.height), pa.int64()),
                "url": part["url"].cast(pl.String).to_arrow(),
                "text": part["text"].cast(pl.String).to_arrow(),
            }
        )
        scored = pl.from_arrow(score_batch(batch, dets))
        assert isinstance(scored, pl.DataFrame)
        for sig in policy.signal_names():
            if f"{sig}__score" not in scored.columns:  # detector not available here
                scored = scored.with_columns(
                    pl.lit(0.0).alias(f"{sig}__score"),
                    pl.lit(None, pl.String).alias(f"{sig}__evidence"),
                )
        dec = policy.decide(scored, versions)
        ev_cols = [c for c in scored.columns if c.endswith("__evidence")]
        evidence = scored.select(
            pl.concat_str(
                [
                    pl.when(pl.col(c).is_not_null()).then(
                        pl.lit(c.removesuffix("__evidence") + "=") + pl.col(c)
                    )
                    for c in ev_cols
                ],
                separator="; ",
                ignore_nulls=True,
            ).alias("evidence")
        )
        none = pl.Series([None] * scored.height, dtype=pl.Float64)
        probs = pl.DataFrame(
            {
                "p_id": scored["scorer__score"] if "scorer__score" in scored.columns else none,
                "p_minor": scored["scorer__minor"] if "scorer__minor" in scored.columns else none,
            }
        )
        out.append(pl.concat([dec, evidence, probs], how="horizontal"))
    return pl.concat(out)


def evaluate(
    path: str | Path,
    label_col: str = "label",
    lang_col: str | None = "lang",
    url_col: str | None = None,
    text_col: str | None = None,
    policy: Policy | None = None,
    batch_size: int = 50_000,
    model: str | Path | None = None,
) -> EvalResult:
    """Score and decide a labelled file with the policy; returns its EvalResult."""
    import polars as pl

    from childguard.detect.lexicon import load_lexicon, load_name_list
    from childguard.policy import load_policy
    from childguard.redact import redact_url, redact_words

    path = Path(path)
    df = read_labelled_file(path)
    cols = df.columns
    if label_col not in cols:
        raise EvalError(f"{path}: label column {label_col!r} not found; columns: {cols}")
    u = _pick(cols, url_col, URL_COLUMNS, "URL")
    t = _pick(cols, text_col, TEXT_COLUMNS, "caption/text")
    if lang_col and lang_col not in cols:
        if lang_col != "lang":  # asked for explicitly
            raise EvalError(f"{path}: language column {lang_col!r} not found; columns: {cols}")
        lang_col = None  # the default column is optional: one overall group
    policy = policy or load_policy()
    options = {"scorer": {"model": str(model)}} if model else {}
    dets, missing = _detectors(policy, options)
    policy = policy.resolve(dets)
    table = df.select(
        pl.col(u).alias("url"),
        pl.col(t).alias("text"),
        _normalise_labels(df[label_col], path, label_col).alias("label"),
        (pl.col(lang_col).cast(pl.String).fill_null("und") if lang_col else pl.lit("all")).alias(
            "lang"
        ),
        *([pl.col("note").cast(pl.String)] if "note" in cols else []),
        (
            pl.col("source").cast(pl.String).fill_null("?") if "source" in cols else pl.lit("all")
        ).alias("source"),
    )
    pred = _score(table, policy, dets, batch_size)
    scorer = next((d for d in dets if d.name == "scorer"), None)
    seen = (
        int(scorer.model.trained_on(table["url"].to_list(), table["text"].to_list()).sum())
        if scorer is not None
        else 0
    )
    table = pl.concat([table, pred], how="horizontal").with_row_index("row")

    def metrics(name: str, d: pl.DataFrame) -> GroupMetrics:
        lab, risk = d["label"], d["risk"]
        idc, pidc = lab == "identifiable_child", risk == "identifiable_child"
        flagged = risk != "clean"
        return GroupMetrics(
            group=name,
            rows=d.height,
            tp=int((idc & pidc).sum()),
            fp=int((~idc & pidc).sum()),
            fn=int((idc & ~pidc).sum()),
            minors=int((lab != "none").sum()),
            minors_found=int(((lab != "none") & flagged).sum()),
            negatives=int((lab == "none").sum()),
            negatives_flagged=int(((lab == "none") & flagged).sum()),
        )

    groups = [
        metrics(g, table.filter(pl.col("lang") == g))
        for g in sorted(table["lang"].unique().to_list())
    ]
    overall = metrics("ALL", table)
    wrong = table.filter(
        ((pl.col("label") == "identifiable_child") != (pl.col("risk") == "identifiable_child"))
        | ((pl.col("label") != "none") & (pl.col("risk") == "clean"))
        | ((pl.col("label") == "none") & (pl.col("risk") != "clean"))
    )
    # lexicon vocabulary stays readable; anything that may be a name becomes an initial
    lex = load_lexicon()
    keep = (
        frozenset(
            w
            for cat, ts in lex.terms.items()
            if cat not in ("names", "not_names", "possessive")
            for w in ts
            if " " not in w
        )
        - frozenset(lex.get("names"))
        - frozenset(lex.get("not_names"))
    )
    keep = keep - frozenset(load_name_list())
    mis = wrong.select(
        "row",
        "lang",
        "label",
        pl.col("risk").alias("predicted"),
        "rule",
        *(["note"] if "note" in wrong.columns else []),
        pl.col("text")
        .map_elements(lambda s: redact_words(s or "", keep=keep, max_len=120), pl.String)
        .alias("text_redacted"),
        pl.col("url").map_elements(lambda s: redact_url(s), pl.String).alias("url_redacted"),
        "evidence",
    )
    from childguard.redact import allow_evidence
    from childguard.scorer.features import _evidence_words

    vocab = _evidence_words()
    mis = mis.with_columns(
        pl.col("evidence").map_elements(lambda e: allow_evidence(e, vocab), pl.String)
    )
    return EvalResult(
        groups=groups,
        overall=overall,
        misclassified=mis,
        detectors=[d.describe() for d in dets],
        missing_detectors=missing,
        figures={**_figures(table), "rows_in_model_training_set": seen},
    )


def _figures(table: pl.DataFrame) -> dict[str, Any]:
    """P/R/F1 with 95% intervals (overall, per source, per language, with and without AMBIG
    rows), and the scorer's reliability table and precision-recall curve."""
    import polars as pl

    from childguard.scorer.metrics import binary_figures, probability_figures

    def figs(d: pl.DataFrame, boot: bool = True) -> dict[str, Any]:
        lab = d["label"].to_numpy()
        risk = d["risk"].to_numpy()
        return {
            "rows": d.height,
            "identifiable_child": binary_figures(
                lab == "identifiable_child", risk == "identifiable_child", bootstrap=boot
            ).as_dict(),
            "any_minor": binary_figures(lab != "none", risk != "clean", bootstrap=boot).as_dict(),
            "none_flagged": int(((lab == "none") & (risk != "clean")).sum()),
        }

    amb = (
        table["note"].fill_null("").str.starts_with("AMBIG")
        if "note" in table.columns
        else pl.Series([False] * table.height)
    )
    clear = table.filter(~amb)
    out: dict[str, Any] = {
        "all_rows": figs(table),
        "without_ambiguous": figs(clear),
        "by_source": {
            str(k[0]): figs(g, boot=False) for k, g in clear.group_by("source", maintain_order=True)
        },
        "by_language": {
            str(k[0]): figs(g, boot=False) for k, g in clear.group_by("lang", maintain_order=True)
        },
    }
    if table["p_id"].null_count() < table.height:
        lab = clear["label"].to_numpy()
        pid = clear["p_id"].fill_null(0.0).to_numpy()
        pm = clear["p_minor"].fill_null(0.0).to_numpy()
        y_id, y_m = lab == "identifiable_child", lab != "none"
        out["scorer"] = probability_figures(y_id, y_m, pid, pm)
    return out


def write_outputs(result: EvalResult, out: Path) -> tuple[Path, Path]:
    """Write misclassified rows (redacted CSV) and metrics JSON atomically."""
    out.mkdir(parents=True, exist_ok=True)
    mis_path = out / MISCLASSIFIED_FILE
    met_path = out / METRICS_FILE
    tmp = mis_path.with_name(f"{mis_path.name}.tmp-{os.getpid()}")
    result.misclassified.write_csv(tmp)
    os.replace(tmp, mis_path)
    blob = {
        "overall": result.overall.as_dict(),
        "groups": [g.as_dict() for g in result.groups],
        "detectors": result.detectors,
        "missing_detectors": result.missing_detectors,
        "misclassified_rows": result.misclassified.height,
        "figures": result.figures,
    }
    tmp = met_path.with_name(f"{met_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(blob, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, met_path)
    plot_pr_curve(result.figures, out / PR_PLOT_FILE)
    return mis_path, met_path


PR_PLOT_FILE = "pr_curve.png"


def plot_pr_curve(figures: dict[str, Any], path: Path) -> Path | None:
    """The scorer's precision-recall curves (identifiable, any minor) as a PNG."""
    sc = figures.get("scorer")
    if not sc:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    for key, name in (("identifiable_child", "identifiable child"), ("any_minor", "any minor")):
        pts = sc["pr_curve"][key]
        ax.plot([p["recall"] for p in pts], [p["precision"] for p in pts], marker=".", label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("scorer precision-recall (thresholds 0.02-0.98)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def print_table(result: EvalResult) -> None:
    """Print the per-language metrics table and figures (warn on training rows)."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="identifiable_child precision/recall/F1, minor recall, false-positive rate")
    for col in ("lang", "rows", "P", "R", "F1", "TP", "FP", "FN", "minor R", "FPR"):
        tab.add_column(col, justify="right" if col != "lang" else "left")
    for g in [*result.groups, result.overall]:
        tab.add_row(
            g.group,
            str(g.rows),
            f"{g.precision:.3f}",
            f"{g.recall:.3f}",
            f"{g.f1:.3f}",
            str(g.tp),
            str(g.fp),
            str(g.fn),
            f"{g.minor_recall:.3f}",
            f"{g.fpr:.3f}",
            end_section=g is result.groups[-1],
        )
    Console().print(tab)
    print_figures(result.figures)
    seen = result.figures.get("rows_in_model_training_set", 0)
    if seen:
        Console().print(
            f"[yellow]warning: {seen:,} of these rows were used to train the scorer model: "
            "these figures are optimistic; quote cross-validated figures (`childguard train`) "
            "or evaluate on rows the model never saw[/yellow]"
        )


def _iv(f: dict[str, Any], k: str) -> str:
    lo, hi = f[f"{k}_ci95"]
    return f"{f[k]:.3f} [{lo:.2f}, {hi:.2f}]"


def print_figures(figures: dict[str, Any]) -> None:
    """Overall figures with 95% intervals, per source, and the scorer's reliability."""
    from rich.console import Console
    from rich.table import Table

    if not figures:
        return
    con = Console()
    for key, title in (("without_ambiguous", "AMBIG rows dropped"), ("all_rows", "all rows")):
        f = figures[key]
        i, m = f["identifiable_child"], f["any_minor"]
        con.print(
            f"[bold]{title}[/bold] ({f['rows']} rows): identifiable P {_iv(i, 'precision')} "
            f"R {_iv(i, 'recall')} F1 {_iv(i, 'f1')}; any-minor recall {_iv(m, 'recall')}"
        )
    tab = Table(title="per source (AMBIG dropped)")
    for c in ("source", "rows", "ident P", "ident R", "minor R", "none flagged"):
        tab.add_column(c, justify="right" if c != "source" else "left")
    for src, f in sorted(figures["by_source"].items()):
        i, m = f["identifiable_child"], f["any_minor"]
        tab.add_row(
            src,
            str(f["rows"]),
            f"{i['precision']:.3f}",
            f"{i['recall']:.3f}",
            f"{m['recall']:.3f}",
            str(f["none_flagged"]),
        )
    con.print(tab)
    sc = figures.get("scorer")
    if sc:
        from childguard.scorer.metrics import reliability_table

        rel = reliability_table(
            sc["reliability"]["identifiable_child"],
            "scorer reliability: P(identifiable) predicted vs observed",
        )
        con.print(rel)
        ap = sc["average_precision"]
        con.print(
            f"average precision: identifiable {ap['identifiable_child']:.3f}, any minor {ap['any_minor']:.3f}"
        )


def eval_cmd(
    labelled: Annotated[
        Path,
        typer.Argument(
            help="Labelled file (parquet, JSONL, CSV or TSV) with URL, TEXT, label[, lang, note]."
        ),
    ],
    label_col: Annotated[str, typer.Option(help="Column with the label.")] = "label",
    lang_col: Annotated[
        str | None, typer.Option(help="Column with the language (per-language metrics).")
    ] = "lang",
    url_col: Annotated[str | None, typer.Option(help="URL column (default: guessed).")] = None,
    text_col: Annotated[str | None, typer.Option(help="Caption column (default: guessed).")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (default: the shipped policy).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for misclassified.csv (redacted) and metrics.json.")
    ] = Path("eval-out"),
    model: Annotated[
        Path | None,
        typer.Option(help="Scorer model from `childguard train` (default: the shipped one)."),
    ] = None,
) -> None:
    """Score a labelled file; print precision/recall per language; write errors redacted."""
    from childguard.policy import PolicyError, load_policy
    from childguard.scorer.model import ModelError

    try:
        pol = load_policy(policy) if policy else None
        result = evaluate(labelled, label_col, lang_col, url_col, text_col, pol, model=model)
    except (EvalError, PolicyError, ModelError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    print_table(result)
    for m in result.missing_detectors:
        typer.echo(f"warning: detector not run (scored 0): {m}", err=True)
    mis, met = write_outputs(result, out)
    typer.echo(f"{result.misclassified.height} misclassified rows (redacted) -> {mis}")
    typer.echo(f"metrics -> {met}")
