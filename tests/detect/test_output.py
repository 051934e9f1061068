"""Detector output columns: the public builder, and the engine's check against `outputs`."""

from __future__ import annotations

from typing import ClassVar

import polars as pl
import pyarrow as pa
import pytest
from pydantic import BaseModel, ConfigDict

from childguard.detect import DetectorError, detector_output
from childguard.detect.base import (
    LABELLED_OUTPUTS,
    STANDARD_OUTPUTS,
    Detector,
    DetectorOptions,
    DetectorRegistry,
)
from childguard.engine.batch import decide_batch_with_errors, score_batch
from childguard.policy import Policy

ROWS = [("my son Lucas, 5", "https://x.com/a.jpg"), ("Sunset", None), (None, None)]
N = len(ROWS)


def test_detector_output_builds_the_standard_columns() -> None:
    out = detector_output(
        "plug",
        N,
        pl.Series([0.5, None, float("nan")]),
        pl.Series(["kw", None, "kw"]),
        label="thing",
        error=pl.Series([None, "model failed", None]),
    )
    assert out.schema == pa.schema(
        [
            ("plug__score", pa.float64()),
            ("plug__evidence", pa.string()),
            ("plug__label", pa.string()),
            ("plug__error", pa.string()),
        ]
    )
    score = out["plug__score"].to_pylist()
    assert score[:2] == [0.5, 0.0]  # a null score is "nothing found"
    assert out["plug__label"].to_pylist() == ["thing", None, "thing"]  # NaN counts as a hit
    assert out["plug__error"].to_pylist() == [None, "model failed", None]
    bare = detector_output("plug", N, pl.Series([0, 1, 0]))
    assert bare.column_names == ["plug__score", "plug__evidence"]
    assert bare["plug__evidence"].null_count == N


class Bad(Detector):
    """Returns whatever the test puts in `cols`, declaring `outputs` as the test sets them."""

    name = "bad_test"
    version = "1"
    cols: ClassVar[dict] = {}

    def score(self, batch, ctx):
        """The columns the test chose."""
        return self.cols if isinstance(self.cols, pa.RecordBatch) else pa.table(self.cols)


def _run(cols, outputs=STANDARD_OUTPUTS) -> pa.Table:
    Bad.cols, Bad.outputs = cols, outputs
    return score_batch(_batch(), [Bad()])


def _batch() -> pa.Table:
    return pa.table(
        {
            "row_index": pa.array(range(N), pa.int64()),
            "url": pa.array([u for _, u in ROWS], pa.string()),
            "text": pa.array([t for t, _ in ROWS], pa.string()),
        }
    )


STR = pa.array(["x"] * N)
ZEROS = pa.array([0.0] * N)


@pytest.mark.parametrize(
    ("cols", "outputs", "msg"),
    [
        ({"bad_test__score": pa.array([0.0]), "bad_test__evidence": pa.array(["x"])}, None,
         "returned 1 rows for 3"),
        ({"bad_test__score": ZEROS, "bad_test__evidence": STR, "other": STR}, None, "outside"),
        ({"bad_test__evidence": STR}, None, "no bad_test__score column"),
        ({"bad_test__score": ZEROS}, None, "no bad_test__evidence column"),
        ({"bad_test__score": pa.array([1] * N), "bad_test__evidence": STR}, None,
         "bad_test__score is int64, expected double"),
        ({"bad_test__score": pa.array([0.0, None, 0.0]), "bad_test__evidence": STR}, None,
         "has nulls"),
        ({"bad_test__score": ZEROS, "bad_test__evidence": pa.array([1] * N)}, None,
         "expected string"),
        ({"bad_test__score": ZEROS, "bad_test__evidence": STR, "bad_test__label": STR}, None,
         r"undeclared columns \['bad_test__label'\]: add them to its `outputs`"),
        ({"bad_test__score": ZEROS, "bad_test__evidence": STR}, LABELLED_OUTPUTS,
         "no bad_test__label column"),
        ({"bad_test__score": ZEROS, "bad_test__evidence": STR, "bad_test__label": ZEROS},
         LABELLED_OUTPUTS, "bad_test__label is double, expected string"),
        (pa.record_batch({"bad_test__score": ZEROS, "bad_test__evidence": STR}), None,
         "returned RecordBatch, not a pyarrow.Table"),
    ],
)  # fmt: skip
def test_engine_stops_on_output_that_breaks_the_contract(cols, outputs, msg) -> None:
    with pytest.raises(DetectorError, match=msg):
        _run(cols, outputs or STANDARD_OUTPUTS)


def test_engine_accepts_declared_columns_in_any_string_form() -> None:
    declared = {**LABELLED_OUTPUTS, "minor": pa.float64()}
    cols = {
        "bad_test__score": ZEROS,
        "bad_test__evidence": pa.nulls(N),  # all null: Arrow's null type
        "bad_test__label": pa.array(["a", None, None], pa.large_string()),
        "bad_test__minor": pa.array([0.1, 0.2, 0.3]),
    }
    out = _run(cols, declared)
    assert out["bad_test__minor"].to_pylist() == [0.1, 0.2, 0.3]
    assert out.num_rows == N


def test_error_column_lists_rows_and_keeps_them_out_of_clean() -> None:
    """`{name}__error` (detect/output.py): the row is listed with its detector and error; the
    policy still decides its risk from the scores."""
    cols = {
        "bad_test__score": ZEROS,
        "bad_test__evidence": pa.nulls(N, pa.string()),
        "bad_test__error": pa.array([None, "image_error: undecodable", None]),
    }
    Bad.cols, Bad.outputs = cols, {**STANDARD_OUTPUTS, "error": pa.string()}
    policy = Policy.model_validate(
        {"version": "t", "detectors": ["bad_test"],
         "rules": [{"name": "any", "risk": "child", "when": "bad_test"}]}
    )  # fmt: skip
    _, counts, errors, _, _ = decide_batch_with_errors(_batch(), [Bad()], policy)
    assert errors.to_pylist() == [
        {"row_index": 1, "detector": "bad_test", "error": "image_error: undecodable"}
    ]
    assert counts["clean"] == N  # scores of 0 decide the risk; the error list says why


def test_empty_result_follows_outputs() -> None:
    class Wide(Detector):
        """Declares a label and a second score."""

        name = "wide_test"
        version = "1"
        outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "minor": pa.float64()}

        def score(self, batch, ctx):
            """Nothing found."""
            return self.empty_result(batch.num_rows)

    out = score_batch(_batch(), [Wide()])
    assert out["wide_test__score"].to_pylist() == [0.0] * N
    assert out["wide_test__minor"].to_pylist() == [0.0] * N
    assert out["wide_test__label"].to_pylist() == [None] * N


def test_register_checks_the_declarations() -> None:
    reg = DetectorRegistry(_entry_points_loaded=True)

    class NoScore(Detector):
        """Declares no score column."""

        name = "no_score"
        version = "1"
        outputs: ClassVar[dict[str, pa.DataType]] = {"evidence": pa.string()}

        def score(self, batch, ctx):
            """Unused."""

    with pytest.raises(DetectorError, match="`outputs` must declare score"):
        reg.register(NoScore)

    class Loose(BaseModel):
        """Options that would accept a misspelt key."""

        model: str | None = None

    class LooseOptions(Detector):
        """Options model without `extra="forbid"`."""

        name = "loose"
        version = "1"
        Options = Loose  # type: ignore[assignment]

        def score(self, batch, ctx):
            """Unused."""

    with pytest.raises(DetectorError, match="`Options` must subclass DetectorOptions"):
        reg.register(LooseOptions)

    class Permissive(DetectorOptions):
        """A subclass that turned unknown keys back on."""

        model_config = ConfigDict(extra="allow")

    LooseOptions.Options = Permissive
    with pytest.raises(DetectorError, match="unknown keys forbidden"):
        reg.register(LooseOptions)
