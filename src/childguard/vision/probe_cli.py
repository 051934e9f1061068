"""`childguard clip-probe train`: a calibrated linear probe from the user's labelled embeddings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from childguard.vision.clip_defaults import DEFAULT_MODEL, DEFAULT_PRETRAINED

app = typer.Typer(
    help="CLIP linear probes: P(minor) from the user's own labelled image embeddings "
    "(the shipped default is the zero-shot prompt set of `clip-prompts`).",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)  # a path in an error stays whole
PROBE_FORMAT = "cg-probe-1"  # the trainer's record in the file's `meta` (what it holds)


def _iv(f: dict[str, Any], k: str) -> str:
    lo, hi = f[f"{k}_ci95"]
    return f"{f[k]:.3f} [{lo:.2f}, {hi:.2f}]"


def print_figures(con: Console, fig: dict[str, Any], folds: int, target: float) -> None:
    """The out-of-fold figures: AP, P/R/F1 with 95% intervals, reliability table."""
    from childguard.scorer.metrics import reliability_table

    con.print(
        f"[bold]cross-validated ({folds} folds, out of fold)[/bold]: {fig['rows']:,} rows, "
        f"{fig['minor']:,} minor; average precision {fig['average_precision']:.3f}"
    )
    rec = fig["at_recommended_threshold"]
    for label, f in (("policy", fig["at_policy_threshold"]), ("recommended", rec)):
        if f is None:
            con.print(f"  no threshold reaches precision {target} out of fold")
            continue
        con.print(
            f"  P(minor) >= {f['threshold']:.3f} ({label}): P {_iv(f, 'precision')}  "
            f"R {_iv(f, 'recall')}  F1 {_iv(f, 'f1')}  (TP {f['tp']}, FP {f['fp']}, FN {f['fn']})"
        )
    con.print(reliability_table(fig["reliability"], "reliability (out of fold, 95% CI)"))


def _split_model(name: str) -> tuple[str, str]:
    model, sep, pretrained = name.partition("/")
    if not sep or not model or not pretrained:
        raise typer.BadParameter(
            f"{name!r}: give model/weights as open_clip names them, e.g. ViT-L-14/openai",
            param_hint="--model-name",
        )
    return model, pretrained


@app.command("train")
def train_cmd(
    embeddings: Annotated[
        list[Path],
        typer.Argument(
            help="Embedding files: LAION img_emb_NNNN.npy (float16) or any 2-D .npy array, or "
            "folders of img_emb_NNNN.npy files."
        ),
    ],
    labels: Annotated[
        Path,
        typer.Option(
            help="Labels (parquet/CSV/TSV/JSONL): file (embedding file or its metadata shard; "
            "optional with one file), row_index (from 0), minor (true/false, empty: unlabelled)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Probe file to write (.npz).")],
    seed: Annotated[int, typer.Option(help="Random seed (folds and solver).")] = 0,
    folds: Annotated[int, typer.Option(help="Stratified cross-validation folds.")] = 5,
    c: Annotated[float, typer.Option("--c", help="Inverse L2 regularisation strength.")] = 1.0,
    target_precision: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Recommend the lowest threshold whose out-of-fold precision reaches this.",
        ),
    ] = 0.9,
    model_name: Annotated[
        str,
        typer.Option(help="open_clip model/weights that made the embeddings (LAION-5B: ViT-L-14/openai)."),
    ] = f"{DEFAULT_MODEL}/{DEFAULT_PRETRAINED}",
    probe_version: Annotated[
        str | None,
        typer.Option(help="Version every finding it decides records (default: lr- and a hash of the probe)."),
    ] = None,
) -> None:
    """Train a calibrated linear probe on labelled CLIP embeddings; print cross-validated figures."""
    from childguard.vision.clip import ClipError, load_scorer, save_probe
    from childguard.vision.probe_data import ProbeError, load_labelled
    from childguard.vision.probe_train import POLICY_THRESHOLD, train_probe

    model, pretrained = _split_model(model_name)
    try:
        data = load_labelled(embeddings, labels)
        fit = train_probe(
            data.x, data.y, folds=folds, seed=seed, c=c, target_precision=target_precision
        )
    except ProbeError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    digest = hashlib.sha256(fit.weights.tobytes() + repr(fit.bias).encode()).hexdigest()
    version = probe_version or f"lr-{digest[:12]}"
    meta = {
        "format": PROBE_FORMAT,
        "trainer": "childguard clip-probe train",
        "model_name": model_name,
        "labels": {"file": labels.name, "sha256": hashlib.sha256(labels.read_bytes()).hexdigest()},
        "rows": data.counts,
        "seed": seed,
        "folds": folds,
        "c": c,
        "platt": {"a": fit.platt[0], "c": fit.platt[1]},
        "target_precision": target_precision,
        "threshold": fit.threshold,
        "cv": fit.figures,
    }
    con = Console(soft_wrap=True)  # figures lines whole, whatever the terminal
    n = data.counts
    con.print(
        f"{n['trained']:,} labelled rows ({n['minor']:,} minor, {n['other']:,} other) from "
        f"{len(n['files'])} file(s); skipped: {n['unlabelled_skipped']:,} without a label, "
        f"{n['zero_vectors_skipped']:,} all-zero vectors (no picture)",
        highlight=False,
    )
    print_figures(con, fit.figures, folds, target_precision)
    try:
        save_probe(out, weights=fit.weights, bias=fit.bias, model=model, pretrained=pretrained,
                   version=version, meta=meta)  # fmt: skip
        scorer = load_scorer(out)
    except (ClipError, OSError) as e:
        err.print(f"[red]error:[/red] {out}: {e}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    use = (
        f"recommended threshold {fit.threshold:.3f} (precision >= {target_precision} out of "
        f"fold): use it as `clip >= {fit.threshold:.3f}` in a policy"
        if fit.threshold is not None
        else f"no recommended threshold; the default policy uses clip >= {POLICY_THRESHOLD}"
    )
    typer.echo(f"wrote {out}: {scorer.tag}, {scorer.dim}-d, sha256 {scorer.sha256[:16]}; {use}")
    typer.echo(f"scan with it: childguard scan ... --embeddings DIR --clip-prompts {out}")
