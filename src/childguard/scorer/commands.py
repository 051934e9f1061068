"""`childguard train`: fit the scorer on labelled rows and print cross-validated figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import numpy as np

# used when a policy has no `scorer >= x` / `scorer.minor >= y` rule
ID_THRESHOLD = 0.5
MINOR_THRESHOLD = 0.5


def policy_thresholds(policy) -> tuple[float, float]:
    """(identifiable, minor) thresholds of a policy's `scorer >= x` and `scorer.minor >= y`
    rules: the figures `train` prints are that policy's."""
    t_id = policy.threshold_of("scorer", risk="identifiable_child")
    t_minor = policy.threshold_of("scorer.minor")
    return (ID_THRESHOLD if t_id is None else t_id, MINOR_THRESHOLD if t_minor is None else t_minor)


def cv_figures(
    labels: np.ndarray,
    p_id: np.ndarray,
    p_minor: np.ndarray,
    t_id: float = ID_THRESHOLD,
    t_minor: float = MINOR_THRESHOLD,
    t_review: float | None = None,
) -> dict[str, Any]:
    """Precision/recall (95% CIs), AP and reliability of out-of-fold probabilities."""
    from childguard.scorer.metrics import binary_figures, probability_figures

    y_id = labels == "identifiable_child"
    y_minor = labels != "none"
    flagged = (p_id >= t_id) | (p_minor >= t_minor)
    with_review = {}
    if t_review is not None:
        with_review = {
            "identifiable_removed_or_reviewed": binary_figures(y_id, p_id >= t_review).as_dict(),
            "any_minor_flagged_or_reviewed": binary_figures(
                y_minor, flagged | (p_id >= t_review)
            ).as_dict(),
        }
    return {
        "rows": len(labels),
        "identifiable_child": binary_figures(y_id, p_id >= t_id).as_dict(),
        "any_minor": binary_figures(y_minor, flagged).as_dict(),
        **with_review,
        **probability_figures(y_id, y_minor, p_id, p_minor),
        "thresholds": {"identifiable": t_id, "minor": t_minor, "review_band_from": t_review},
    }


def _fmt(f: dict[str, Any]) -> str:
    def iv(k: str) -> str:
        lo, hi = f[f"{k}_ci95"]
        return f"{f[k]:.3f} [{lo:.2f}, {hi:.2f}]"

    return f"P {iv('precision')}  R {iv('recall')}  F1 {iv('f1')}  (TP {f['tp']}, FP {f['fp']}, FN {f['fn']})"


def print_figures(title: str, fig: dict[str, Any]) -> None:
    """Print cv_figures() output: per-threshold figures, AP and reliability table."""
    from rich.console import Console

    con = Console()
    con.print(f"[bold]{title}[/bold] ({fig['rows']} rows)")
    t = fig["thresholds"]
    con.print(f"  at P(identifiable) >= {t['identifiable']}, P(minor) >= {t['minor']}:")
    con.print(f"  identifiable_child  {_fmt(fig['identifiable_child'])}")
    con.print(f"  any minor           {_fmt(fig['any_minor'])}")
    if "any_minor_flagged_or_reviewed" in fig:
        con.print(f"  with the review band (P(identifiable) >= {t['review_band_from']}):")
        con.print(
            f"    identifiable removed or reviewed  {_fmt(fig['identifiable_removed_or_reviewed'])}"
        )
        con.print(
            f"    any minor flagged or reviewed     {_fmt(fig['any_minor_flagged_or_reviewed'])}"
        )
    ap = fig["average_precision"]
    con.print(
        f"  average precision   identifiable {ap['identifiable_child']:.3f}, any minor {ap['any_minor']:.3f}"
    )
    from childguard.scorer.metrics import reliability_table

    t = reliability_table(
        fig["reliability"]["identifiable_child"], "reliability (identifiable_child, screened rows)"
    )
    con.print(t)


def train_cmd(
    labelled: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled files (parquet/CSV/JSONL with URL, TEXT, label[, note, lang, source]); cross-validated."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (.npz).")],
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled files used for training only, never scored (e.g. written examples)."
        ),
    ] = None,
    extra_weight: Annotated[
        list[float] | None,
        typer.Option(
            help="Weight of an --extra row relative to a real labelled row: once for all "
            "--extra files, or once per --extra file in the same order (default 1)."
        ),
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option(
            help="Unlabelled real rows (URL, TEXT): the score distribution sizes review bands."
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (folds and solver).")] = 0,
    c: Annotated[float, typer.Option("--c", help="Inverse L2 regularisation strength.")] = 1.0,
    min_rows: Annotated[
        int, typer.Option(help="Keep tokens seen in at least this many distinct captions.")
    ] = 3,
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy whose thresholds the printed figures use (default: shipped)."),
    ] = None,
) -> None:
    """Train the scorer; print cross-validated precision/recall (95% CI) and reliability."""
    from childguard.scorer.train import TrainError, prepare, train

    try:
        data = prepare(labelled, extra or [], extra_weight=extra_weight or [1.0])
        pool_df = None
        if pool is not None:
            pool_df = read_labelled_pool(pool)
        result = train(data, folds=folds, seed=seed, c_reg=c, min_rows=min_rows, pool=pool_df)
    except TrainError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    from childguard.policy import PolicyError, load_policy

    try:
        pol = load_policy(policy)
    except PolicyError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    t_id, t_minor = policy_thresholds(pol)
    t_review = None
    if pol.review is not None and pool is not None:
        t_review = result.model.threshold_for_band(pol.review.below, pol.review.max_per_million)
    keep = data.cv
    labels = data.labels
    oof = result.oof

    def figures(m: np.ndarray) -> dict[str, Any]:
        return cv_figures(
            labels[m], oof["identifiable"][m], oof["minor"][m], t_id, t_minor, t_review
        )

    figs = {"all_rows": figures(keep), "without_ambiguous": figures(keep & ~data.ambiguous)}
    print_figures(f"cross-validated ({folds} folds), AMBIG rows dropped", figs["without_ambiguous"])
    print_figures(f"cross-validated ({folds} folds), all rows", figs["all_rows"])
    meta = result.model.meta
    meta["cv"] = {
        k: {kk: v[kk] for kk in ("rows", "identifiable_child", "any_minor", "average_precision")}
        for k, v in figs.items()
    }
    meta["trained_on"] = [p.name for p in labelled] + [p.name for p in extra or []]
    meta["extra_weight"] = list(extra_weight or [1.0])
    result.model.save(out)
    metrics_path = out.with_suffix(".metrics.json")
    metrics_path.write_text(json.dumps(figs, indent=1))
    dist = meta.get("pool_distribution")
    if dist:
        pm = result.model.rows_per_million_above(t_id)
        typer.echo(
            f"pool: {dist['rows']:,} rows, {dist['screened']:,} screened; "
            f"P(identifiable) >= {t_id}: {pm:,.0f} per million"
            + (f"; review band from P(identifiable) >= {t_review}" if t_review is not None else "")
        )
    typer.echo(
        f"model {result.model.model_id} -> {out} ({meta['tokens']:,} tokens); figures -> {metrics_path}"
    )


def read_labelled_pool(path: Path):
    """The URL and caption columns of an unlabelled pool file, as `url`, `text`."""
    import polars as pl

    from childguard.evaluate import TEXT_COLUMNS, URL_COLUMNS, _pick

    df = (
        pl.read_parquet(path)
        if path.suffix == ".parquet"
        else pl.read_csv(path, infer_schema_length=0)
    )
    u = _pick(df.columns, None, URL_COLUMNS, "URL")
    t = _pick(df.columns, None, TEXT_COLUMNS, "caption")
    return df.select(
        pl.col(u).cast(pl.String).alias("url"), pl.col(t).cast(pl.String).alias("text")
    )
