"""A detector's output columns: how to build them (for plugins too) and what the engine checks.

Columns, one row per input row:
- `{name}__score` float64: 0 where nothing was found;
- `{name}__evidence` string or null: redacted (lexicon words, digits, initials only);
- `{name}__label` string, optional: what was found where the score is > 0;
- `{name}__error` string, optional: set where the detector could not check the row (an
  unreadable image, a model failure); such rows are listed in `errors/`, never clean;
- `{name}__picture` bool, optional: true where the detector looked at the row's picture (its
  image or its embedding); rows no detector looked at are counted as having no picture-level
  check (shard stats `picture_checked`, the report);
- any other `{name}__*` column a policy or a later detector reads (e.g. `scorer__minor`).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect.base import DetectorError


def detector_output(
    name: str,
    n: int,
    score: pl.Series,
    evidence: pl.Series | None = None,
    label: str | None = None,
) -> pa.Table:
    """The standard output columns from Polars series of length n (the public form of the
    helper the built-in detectors use)."""
    from childguard.detect._util import result

    return result(name, n, score, evidence, label)


def check_output(name: str, out: pa.Table, rows: int) -> None:
    """Raise DetectorError unless `out` holds the columns the contract above promises."""
    if out.num_rows != rows:
        raise DetectorError(f"detector {name} returned {out.num_rows} rows for {rows}")
    foreign = [c for c in out.column_names if not c.startswith(f"{name}__")]
    if foreign:
        raise DetectorError(f"detector {name} returned columns outside {name}__*: {foreign}")
    score = f"{name}__score"
    if score not in out.column_names:
        raise DetectorError(f"detector {name} returned no {score} column")
    if out.schema.field(score).type != pa.float64():
        raise DetectorError(
            f"detector {name}: {score} is {out.schema.field(score).type}, expected double"
        )
    for c in (f"{name}__evidence", f"{name}__label", f"{name}__error"):
        if c in out.column_names and out.schema.field(c).type not in (
            pa.string(),
            pa.large_string(),
            pa.null(),
        ):
            raise DetectorError(
                f"detector {name}: {c} is {out.schema.field(c).type}, expected string"
            )
    pic = f"{name}__picture"
    if pic in out.column_names and out.schema.field(pic).type != pa.bool_():
        raise DetectorError(f"detector {name}: {pic} is {out.schema.field(pic).type}, expected bool")
