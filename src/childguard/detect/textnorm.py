"""Shared normalised text columns, computed once per batch before any detector runs.

Placeholder kept minimal until the caption/URL detectors land (issue 3): adds `text_norm` and
`url_words` as lower-cased copies.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def prepare(batch: pa.Table) -> pa.Table:
    if "text_norm" in batch.column_names:
        return batch
    text = pc.utf8_lower(pc.fill_null(batch.column("text"), ""))
    url = pc.utf8_lower(pc.fill_null(batch.column("url"), ""))
    return batch.append_column("text_norm", text).append_column("url_words", url)
