"""Cross-validated figures of the current detectors and features, averaged over CV seeds.

The per-step tables of docs/detection.md ("5 seeds each, the same data") come from this: the
labelled rows are featurised once (`childguard.scorer.train.prepare`, as `childguard train`
does), then `train` runs with each seed, and the out-of-fold probabilities give average
precision on the real rows without LAION, on the LAION-2B rows, and on all CV rows (AMBIG rows
dropped; rows the screen does not pass count as misses), plus precision and recall of
P(identifiable) >= 0.12. Change a detector or a feature, run it again, compare the lines.

    python tools/cv_compare.py ../shared/data/real_labelled.parquet /tmp/added.parquet \\
        /tmp/laion2b.parquet /tmp/laion2b_1k.parquet \\
        --extra ../shared/data/labelled.parquet $(for f in labels/written/*.jsonl; do echo --extra $f; done) \\
        --extra-weight 1 $(for f in labels/written/*.jsonl; do echo --extra-weight 0.1; done) \\
        --seeds 5 --tag "my change"

`--cache FILE` keeps the featurised rows (a pickle) to rerun with other seeds or training
settings without featurising again; delete it after changing a detector or feature.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

THRESHOLD = 0.12  # the default policy's P(identifiable) removal threshold


def seed_figures(
    labels: np.ndarray,
    sources: np.ndarray,
    scored: np.ndarray,
    p_id: np.ndarray,
    p_minor: np.ndarray,
    threshold: float = THRESHOLD,
) -> dict[str, float]:
    """One seed's figures from out-of-fold probabilities: identifiable AP on the real rows
    without LAION (`id_real`), on the LAION-2B rows (`id_laion`) and on all (`id_all`);
    any-minor AP on the first two (`minor_real`, `minor_laion`); P and R of P(identifiable)
    >= threshold over all. `scored`: the CV rows without AMBIG; NaN where a subset is empty."""
    from childguard.scorer.metrics import average_precision

    laion = np.char.startswith(sources.astype(str), "laion2b")
    y_id = labels == "identifiable_child"
    y_minor = labels != "none"

    def ap(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> float:
        return average_precision(y[m], p[m]) if y[m].any() else float("nan")

    real, lai = scored & ~laion, scored & laion
    flagged = (p_id >= threshold) & scored
    tp = int((flagged & y_id).sum())
    return {
        "id_real": ap(y_id, p_id, real),
        "id_laion": ap(y_id, p_id, lai),
        "id_all": ap(y_id, p_id, scored),
        "minor_real": ap(y_minor, p_minor, real),
        "minor_laion": ap(y_minor, p_minor, lai),
        "P": tp / max(int(flagged.sum()), 1),
        "R": tp / max(int((y_id & scored).sum()), 1),
    }


def mean_line(tag: str, per_seed: list[dict[str, float]], threshold: float = THRESHOLD) -> str:
    """The mean over seeds, as one line of text."""
    m = {k: float(np.nanmean([f[k] for f in per_seed])) for k in per_seed[0]}
    return (
        f"{tag:30s} idAP real {m['id_real']:.3f} laion {m['id_laion']:.3f} all {m['id_all']:.3f}"
        f" | minorAP real {m['minor_real']:.3f} laion {m['minor_laion']:.3f}"
        f" | P@{threshold} {m['P']:.2f} R {m['R']:.2f}  ({len(per_seed)} seeds)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labelled", nargs="+", type=Path, help="labelled files scored in CV")
    ap.add_argument("--extra", action="append", type=Path, default=[], help="training-only rows")
    ap.add_argument("--extra-weight", action="append", type=float, default=[])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--c", type=float, default=1.0, help="inverse regularisation (train's C)")
    ap.add_argument("--cache", type=Path, help="keep the featurised rows in this pickle")
    ap.add_argument("--tag", default="current")
    a = ap.parse_args()

    from childguard.scorer.train import prepare, train

    if a.cache is not None and a.cache.exists():
        data = pickle.loads(a.cache.read_bytes())
    else:
        data = prepare(a.labelled, a.extra, a.extra_weight or 1.0)
        if a.cache is not None:
            a.cache.write_bytes(pickle.dumps(data))
    scored = data.cv & ~data.ambiguous
    sources = data.frame["source"].to_numpy()
    per_seed = []
    for s in range(a.seeds):
        r = train(data, seed=s, c_reg=a.c)
        per_seed.append(
            seed_figures(data.labels, sources, scored, r.oof["identifiable"], r.oof["minor"])
        )
    print(mean_line(a.tag, per_seed))


if __name__ == "__main__":
    main()
