"""CONTRIBUTING's plugin example is real code: it registers, runs and honours the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import childguard.detect
from childguard.detect import BatchContext, DetectorError
from childguard.detect.base import DetectorRegistry
from childguard.detect.output import check_output
from childguard.detect.textnorm import prepare

GUIDE = Path(__file__).parents[2] / "CONTRIBUTING.md"


@pytest.fixture
def hashtags(monkeypatch):
    """The example's class, registered in a registry of its own (not the global one)."""
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert code is not None and "class Hashtags(Detector)" in code.group(1)
    reg = DetectorRegistry(_entry_points_loaded=True)
    monkeypatch.setattr(childguard.detect, "register", reg.register)
    scope: dict = {}
    exec(compile(code.group(1), str(GUIDE), "exec"), scope)
    return reg.get("hashtags")


def test_the_example_runs_and_honours_the_contract(hashtags, make_batch) -> None:
    rows = [(e.text, e.url) for e in hashtags.examples()] + [(None, None), ("", ""), ("#a", None)]
    table = prepare(make_batch(rows))
    det = hashtags()
    det.ensure_setup()
    out = det.run(table, BatchContext(table))
    check_output(det.name, out, len(rows), det.outputs)
    assert out["hashtags__score"].to_pylist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert out["hashtags__evidence"].to_pylist() == ["#f", None, None, None, None]
    assert out["hashtags__label"].to_pylist() == ["hashtag", None, None, None, None]
    assert det.run(table).equals(out)
    one = hashtags(min_length=1).run(table)
    assert one["hashtags__score"].to_pylist()[-1] == 1.0
    with pytest.raises(DetectorError, match="detector 'hashtags': unknown option 'min_lenght'"):
        hashtags(min_lenght=1)
