"""Every registered detector honours the contract (detect/base.py, detect/output.py).

The detectors come from the registry: the built-in ones, those of installed packages (entry
points) and the test plugins imported below, so a new detector is covered without editing
this file. Each runs on a small batch with awkward rows, with and without a batch context.
"""

from __future__ import annotations

import cg_ray_probe  # noqa: F401  (test plugins register themselves: held to the contract too)
import polars as pl
import pyarrow as pa
import pytest

from childguard.detect import REGISTRY, BatchContext, DetectorError, load_builtin
from childguard.detect.output import check_output
from childguard.detect.textnorm import prepare
from childguard.policy import load_policy

import kw_plugin  # noqa: F401

load_builtin()
POLICY = load_policy()
NAMES = REGISTRY.names()
# Detectors whose firing depends on data outside the row (the list store): their firing is
# tested with the data (tests/lists/test_detector.py); here they must stay quiet.
# detectors that fire only on data a text row does not carry (a list store, pictures, embeddings)
NEEDS_DATA = {"takedown_lists", "clip", "images"}

# Rows no detector may trip over: nulls, empty and blank strings, odd Unicode, junk URLs.
AWKWARD = [
    (None, None),
    ("", ""),
    ("   ", "not a url"),
    ("😀 ñ ß 日本語 العربية", "https://例え.jp/ü ber/ç.jpg?x=1#f"),
    ("my son Lucas, 5, at Escola Pequeno Mundo", None),
    (None, "https://x.example/festa-5-anos-lucas.jpg"),
    ("a" * 5000, "https://x.example/" + "b/" * 500),
]


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch) -> None:
    """An empty childguard home: no detector reads the user's list store or models."""
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))


def _rows(name: str) -> list[tuple[str | None, str | None]]:
    return [(e.text, e.url) for e in REGISTRY.get(name).examples()] + AWKWARD


def _assert_declared(det, out: pa.Table, rows: int) -> None:
    check_output(det.name, out, rows, det.outputs)  # what the engine checks on every batch
    assert sorted(out.column_names) == sorted(det.col(s) for s in det.outputs)
    for suffix, typ in det.outputs.items():
        got = out.schema.field(det.col(suffix)).type
        assert got == typ or (typ == pa.string() and got in (pa.large_string(), pa.null()))
    score = pl.Series(out.column(det.col("score")))
    assert score.null_count() == 0
    assert score.is_between(0.0, 1.0).all(), score.to_list()


@pytest.mark.parametrize("name", NAMES)
def test_runs_with_and_without_a_context(name, make_batch) -> None:
    rows = _rows(name)
    table = prepare(make_batch(rows))
    ctx = BatchContext(table)
    for det in REGISTRY.create([name]):  # with the detectors it reads, in order
        det.ensure_setup()
        with_ctx = det.run(table, ctx)
        _assert_declared(det, with_ctx, len(rows))
        # a detector depends only on its arguments: a context built for it says the same
        assert det.run(table).equals(with_ctx), det.name
        if not det.after:  # and the raw batch alone (the normalised columns made for it)
            assert det.run(make_batch(rows)).equals(with_ctx), det.name
        for c in with_ctx.column_names:
            table = table.append_column(c, with_ctx.column(c))


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_batch_gives_empty_declared_columns(name, make_batch) -> None:
    table = prepare(make_batch([]))
    for det in REGISTRY.create([name]):
        det.ensure_setup()
        out = det.run(table, BatchContext(table))
        _assert_declared(det, out, 0)
        for c in out.column_names:
            table = table.append_column(c, out.column(c))


@pytest.mark.parametrize("name", NAMES)
def test_rejects_an_unknown_option(name) -> None:
    with pytest.raises(DetectorError, match=f"detector '{name}': unknown option 'no_such_opt'"):
        REGISTRY.create([name], {name: {"no_such_opt": 1}})


def _examples():
    for name in NAMES:
        for i, ex in enumerate(REGISTRY.get(name).examples()):
            yield pytest.param(name, ex, id=f"{name}-{i}")


@pytest.mark.parametrize(("name", "example"), list(_examples()))
def test_examples(name, example, make_batch) -> None:
    dets = REGISTRY.create([name])
    table = prepare(make_batch([(example.text, example.url), ("Sunset over the lake", None)]))
    for det in dets:
        det.ensure_setup()
        out = det.run(table)
        assert out.num_rows == table.num_rows
        for c in out.column_names:
            table = table.append_column(c, out.column(c))
    det = dets[-1]
    score = table.column(f"{name}__score")
    evidence = table.column(f"{name}__evidence")
    assert score.type == pa.float64()
    assert evidence.type == pa.string()
    scores = pl.Series(score).fill_null(0.0).to_list()
    assert all(0.0 <= s <= 1.0 for s in scores)
    for s, e in zip(scores, evidence.to_pylist(), strict=True):
        assert (e is None) == (s == 0.0), (s, e)  # evidence exactly when something was found
    fired = scores[0] >= POLICY.threshold(name) and scores[0] > 0
    assert fired is example.fires, (example, scores[0], evidence[0])
    if example.fires and example.label is not None and f"{name}__label" in table.column_names:
        assert table.column(f"{name}__label")[0].as_py() == example.label
    assert det.version


@pytest.mark.parametrize("name", NAMES)
def test_every_detector_has_examples(name) -> None:
    exs = REGISTRY.get(name).examples()
    assert any(not e.fires for e in exs), f"{name}: no example of a row it must not flag"
    if name not in NEEDS_DATA:
        assert any(e.fires for e in exs), f"{name}: no example of a row it flags"
