"""A detector's output columns: how to build them (for plugins too) and what the engine checks.

Columns, one row per input row, each declared in the detector's `outputs` (suffix -> type):
- `{name}__score` float64, never null: 0 where nothing was found;
- `{name}__evidence` string or null: redacted (lexicon words, digits, initials only);
- `{name}__label` string, optional: what was found where the score is > 0;
- `{name}__error` string, optional: set where the detector could not check the row (an
  unreadable image, a model failure). Such a row is never silently clean: the engine lists it
  in `errors/<shard-id>.parquet` (row_index, detector, error) and counts it in the shard's
  stats (`row_errors`); the policy still decides its risk from the scores. Redacted like
  evidence;
- `{name}__picture` bool, optional: true where the detector looked at the row's picture (its
  image or its embedding); rows no detector looked at are counted as having no picture-level
  check (shard stats `picture_checked`, the report);
- any other `{name}__*` column a policy or a later detector reads (e.g. `scorer__minor`).

The engine runs `check_output` on every batch and stops it, naming the detector, when a column
is missing, undeclared, mistyped, of the wrong length or outside `{name}__*`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from childguard.detect.base import STANDARD_OUTPUTS, DetectorError

# Arrow scalars made from buffers: `pa.scalar(0.0)` and `pa.array([...])` import pandas
# (0.15 s of start-up) to check their argument for pandas objects.
_ZERO = pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(np.zeros(1))])[0]
_STRINGS = (pa.string(), pa.large_string())


def detector_output(
    name: str,
    n: int,
    score: pl.Series,
    evidence: pl.Series | pa.Array | None = None,
    label: str | None = None,
    error: pl.Series | None = None,
) -> pa.Table:
    """The standard output columns of detector `name` from Polars series of length n.

    `score` nulls become 0; without `evidence` it is all null (it may also be an Arrow string
    array); `label` is set where the score
    is > 0; `error` (string, null where the row was checked) adds the `{name}__error` column."""
    sc = score.cast(pl.Float64).fill_null(0.0).to_arrow()
    cols: dict[str, pa.Array] = {
        f"{name}__score": sc,
        f"{name}__evidence": _strings(evidence, n),
    }
    if label is not None:
        # the label where the score is > 0 (NaN counts: polars orders NaN above every number)
        hit = pc.or_(pc.greater(sc, _ZERO), pc.is_nan(sc))
        lab = pl.Series([label], dtype=pl.String).to_arrow().cast(pa.string())[0]
        cols[f"{name}__label"] = pc.if_else(hit, lab, pa.nulls(1, pa.string())[0])
    if error is not None:
        cols[f"{name}__error"] = _strings(error, n)
    return pa.table(cols)


def _strings(values: pl.Series | pa.Array | None, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, pa.string())
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return values.cast(pl.String).to_arrow().cast(pa.string())


def check_output(
    name: str,
    out: pa.Table,
    rows: int,
    declared: Mapping[str, pa.DataType] = STANDARD_OUTPUTS,
) -> None:
    """Raise DetectorError unless `out` holds exactly the `declared` columns the contract above
    promises (`{name}__{suffix}` of each type; strings may also be large or all-null)."""
    if not isinstance(out, pa.Table):
        raise DetectorError(f"detector {name} returned {type(out).__name__}, not a pyarrow.Table")
    if out.num_rows != rows:
        raise DetectorError(f"detector {name} returned {out.num_rows} rows for {rows}")
    cols = out.column_names
    foreign = [c for c in cols if not c.startswith(f"{name}__")]
    if foreign:
        raise DetectorError(f"detector {name} returned columns outside {name}__*: {foreign}")
    if len(set(cols)) != len(cols):
        raise DetectorError(f"detector {name} returned a column twice: {cols}")
    want = {f"{name}__{suffix}": typ for suffix, typ in declared.items()}
    missing = [c for c in want if c not in cols]
    if missing:
        raise DetectorError(f"detector {name} returned no {', '.join(missing)} column")
    extra = [c for c in cols if c not in want]
    if extra:
        raise DetectorError(
            f"detector {name} returned undeclared columns {extra}: add them to its `outputs`"
        )
    for c, typ in want.items():
        got = out.schema.field(c).type
        ok = got in (*_STRINGS, pa.null()) if typ in _STRINGS else got == typ
        if not ok:
            expected = "string" if typ in _STRINGS else str(typ)
            raise DetectorError(f"detector {name}: {c} is {got}, expected {expected}")
    score = f"{name}__score"
    if out.column(score).null_count:
        raise DetectorError(f"detector {name}: {score} has nulls (0 means nothing found)")
