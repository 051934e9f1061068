"""Population figures of the shipped model on a labelled real dataset file (labels/heldout/).

A held-out file holds every row the screen passed (`candidate`) and a random sample of the rows
it did not (`audit`). Scoring every row of the dataset file and weighting each audit row by
(rows the screen did not pass) / (audit rows) turns those labels into figures for the whole
file: the share of rows flagged, the precision of what is flagged, and recall including the
minors the screen never sees.

    python tools/heldout_eval.py labels/heldout/laion400m_10k.csv=test_10000.parquet \\
        labels/heldout/cc3m_val.csv=Validation_GCC-1.1.0-Validation.tsv
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bts", ROOT / "tools" / "build_training_set.py")
bts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bts)


def score_file(labels: Path, rows_file: Path, model: Path | None) -> pl.DataFrame:
    """Every row of rows_file with its decision, P(identifiable), label and selection."""
    from childguard.evaluate import _detectors, _score
    from childguard.policy import load_policy

    lab = pl.read_csv(labels, infer_schema_length=0).select(
        "key", "label", sel=pl.col("provenance").str.extract(r"^(\w+)")
    )
    rows = bts.with_keys(bts.read_rows(rows_file)).join(lab, on="key", how="left")
    policy = load_policy()
    dets, missing = _detectors(policy, {"scorer": {"model": str(model)}} if model else {})
    if missing:
        raise SystemExit(f"detectors not available: {missing}")
    policy = policy.resolve(dets)
    pred = _score(rows.select(url="URL", text="TEXT"), policy, dets, 50_000)
    return pl.concat([rows, pred.select("risk", "p_id", "p_minor")], how="horizontal")


def figures(d: pl.DataFrame) -> dict[str, float]:
    """Weighted counts: candidate rows weigh 1, audit rows stand for every unscreened row."""
    cand = (d["sel"] == "candidate").fill_null(False)
    audit = (d["sel"] == "audit").fill_null(False)
    # rows neither labelled as candidate nor audit: the screen passed none of them, so the
    # audit sample stands for them (empty captions included: they were not sampled, and hold
    # no caption to find a minor in)
    n_uncand = int((~cand).sum())
    w_audit = n_uncand / max(int(audit.sum()), 1)
    w = np.where(cand.to_numpy(), 1.0, np.where(audit.to_numpy(), w_audit, 0.0))
    lab = d["label"].fill_null("").to_numpy()
    risk = d["risk"].fill_null("none").to_numpy()
    ident = lab == "identifiable_child"
    minor = (lab == "child") | ident
    f_id = risk == "identifiable_child"
    f_any = f_id | (risk == "child")
    labelled = lab != ""
    n = d.height
    out = {
        "rows": n,
        "flagged %": 100 * f_any.mean(),
        "identifiable %": 100 * f_id.mean(),
        "flagged unlabelled": int((f_any & ~labelled).sum()),
        "minors % (est.)": 100 * (w * minor).sum() / n,
        "screen recall (minor)": (w * minor * cand.to_numpy()).sum() / max((w * minor).sum(), 1e-9),
    }
    for name, f, y in [("identifiable", f_id, ident), ("any minor", f_any, minor)]:
        fl = f & labelled
        out[f"{name} P"] = (y & fl).sum() / max(fl.sum(), 1)
        out[f"{name} R"] = (w * (y & f)).sum() / max((w * y).sum(), 1e-9)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("pairs", nargs="+", metavar="LABELS.csv=ROWS")
    ap.add_argument("--model", type=Path, help="scorer model (default: the shipped one)")
    a = ap.parse_args()
    for pair in a.pairs:
        lab, sep, rows = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected LABELS.csv=ROWS, got {pair!r}")
        f = figures(score_file(Path(lab), Path(rows), a.model))
        print(
            f"{Path(lab).stem}: "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in f.items()
            )
        )


if __name__ == "__main__":
    main()
