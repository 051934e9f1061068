"""The detector registry: duplicate names rejected, entry points loaded, dependency order."""

from __future__ import annotations

import pyarrow as pa
import pytest

from childguard.detect import base
from childguard.detect.base import Detector, DetectorError, DetectorRegistry


def make(name: str, after: tuple[str, ...] = (), requires: tuple[str, ...] = ()):
    class D(Detector):
        def score(self, batch: pa.Table) -> pa.Table:
            return self.empty_result(batch.num_rows)

    D.name, D.version, D.after, D.requires = name, "1", after, requires
    D.__qualname__ = f"D_{name}"
    return D


def test_duplicate_names_are_rejected() -> None:
    reg = DetectorRegistry()
    reg.register(make("a"))
    with pytest.raises(DetectorError, match="duplicate detector name 'a'"):
        reg.register(make("a"))


def test_missing_name_or_version() -> None:
    reg = DetectorRegistry()
    d = make("x")
    d.version = ""
    with pytest.raises(DetectorError, match="no `version`"):
        reg.register(d)


def test_create_orders_by_dependencies_and_checks_requires() -> None:
    reg = DetectorRegistry(_entry_points_loaded=True)
    reg.register(make("names", after=("child",)))
    reg.register(make("child"))
    reg.register(make("needs_model", requires=("surely_not_installed_pkg",)))
    assert [d.name for d in reg.create(["names"])] == ["child", "names"]
    with pytest.raises(DetectorError, match="surely_not_installed_pkg"):
        reg.create(["needs_model"])
    with pytest.raises(DetectorError, match="unknown detector 'nope'"):
        reg.create(["nope"])


def test_entry_points_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = make("from_plugin")

    class EP:
        name = "from_plugin"

        def load(self):
            return plugin

    monkeypatch.setattr(
        base, "entry_points", lambda group: [EP()] if group == base.ENTRY_POINT_GROUP else []
    )
    reg = DetectorRegistry()
    assert "from_plugin" in reg.names()
    assert reg.get("from_plugin") is plugin
