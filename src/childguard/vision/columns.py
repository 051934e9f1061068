"""The findings' `picture` column: what the `images` detector saw in a flagged row's picture.

A nullable struct added to the findings schema (null when the images stage did not run, so
findings of caption-only scans read as before). Built from the detector's `images__*`
columns of the flagged rows; light imports only (the engine imports this).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

PICTURE_TYPE = pa.struct(
    [
        ("faces", pa.int32()),
        ("youngest_age", pa.float64()),
        ("age_confidence", pa.float64()),
        ("minor", pa.float64()),
        ("unsafe", pa.float64()),
        ("pdq", pa.string()),
        ("pdq_quality", pa.int32()),
        ("models", pa.string()),
        ("error", pa.string()),
    ]
)
_SOURCES = {
    "faces": "images__faces",
    "youngest_age": "images__age",
    "age_confidence": "images__age_confidence",
    "minor": "images__score",
    "unsafe": "images__unsafe",
    "pdq": "images__pdq",
    "pdq_quality": "images__pdq_quality",
    "models": "images__models",
    "error": "images__error",
}


def picture_column(flagged: pl.DataFrame) -> pa.Array:
    """Per flagged row, its picture struct; all null when the images detector did not run."""
    n = flagged.height
    if "images__score" not in flagged.columns:
        return pa.nulls(n, PICTURE_TYPE)
    arrays = []
    for f in PICTURE_TYPE:
        src = _SOURCES[f.name]
        col = flagged[src].to_arrow() if src in flagged.columns else pa.nulls(n, f.type)
        arrays.append(pa.chunked_array([col]).combine_chunks().cast(f.type))
    checked = flagged["images__faces"].is_not_null() | flagged["images__error"].is_not_null()
    mask = pa.array((~checked).to_numpy())
    return pa.StructArray.from_arrays(arrays, fields=list(PICTURE_TYPE), mask=mask)
