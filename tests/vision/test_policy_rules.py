"""The image rules `scan --images` adds: where they go and what they decide (no models)."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.config import ScanConfig
from childguard.policy import load_policy
from childguard.vision.scan_option import (
    DETECTOR,
    PLUGIN,
    ImagesOption,
    apply_images_option,
    image_rules,
)


def test_rules_are_placed_so_the_first_match_still_decides() -> None:
    cfg, policy = apply_images_option(ScanConfig(inputs=["x"]), None, ImagesOption(fetch=True))
    names = [r.name for r in policy.rules]
    assert names[0] == "takedown_list_match" and names[1] == "image_minor_unsafe"
    first_child = next(i for i, r in enumerate(policy.rules) if r.risk == "child")
    assert names[first_child - 1] == "image_minor_identified"
    assert names[-1] == "image_minor"
    assert policy.rules[1].action == "remove"
    assert DETECTOR in policy.detectors and PLUGIN in cfg.plugins
    assert cfg.detector_options[DETECTOR]["fetch"] is True
    # applying twice adds nothing
    assert image_rules(policy, policy.detectors) == policy


def test_identifier_clause_uses_only_running_detectors() -> None:
    cfg, policy = apply_images_option(
        ScanConfig(inputs=["x"], detectors=["names", "child_terms"]), None, ImagesOption()
    )
    assert cfg.detectors == ["names", "child_terms", "images"]
    rule = next(r for r in policy.rules if r.name == "image_minor_identified")
    assert rule.when == "images >= 0.5 and (names)"
    _, bare = apply_images_option(
        ScanConfig(inputs=["x"], detectors=["child_terms"]), None, ImagesOption()
    )
    assert "image_minor_identified" not in [r.name for r in bare.rules]


def _frame(rows: list[tuple[float, float, float]]) -> pl.DataFrame:
    """(images minor P, unsafe, names score) per row; every other detector silent."""
    policy = load_policy()
    n = len(rows)
    cols: dict[str, list] = {}
    for d in policy.detectors or []:
        cols[f"{d}__score"] = [0.0] * n
        cols[f"{d}__evidence"] = [None] * n
    cols["scorer__minor"] = [0.0] * n
    cols["images__score"] = [r[0] for r in rows]
    cols["images__unsafe"] = [r[1] for r in rows]
    cols["images__evidence"] = ["minor:x"] * n
    cols["names__score"] = [r[2] for r in rows]
    return pl.DataFrame(cols, strict=False)


@pytest.mark.parametrize(
    ("row", "risk", "action", "rule"),
    [
        ((0.9, 0.95, 0.0), "blocked", "remove", "image_minor_unsafe"),
        ((0.9, 0.95, 1.0), "blocked", "remove", "image_minor_unsafe"),
        ((0.9, 0.1, 1.0), "identifiable_child", "remove", "image_minor_identified"),
        ((0.9, 0.1, 0.0), "child", "keep", "image_minor"),
        ((0.2, 0.99, 1.0), "clean", "keep", None),  # an adult in unsafe content: not ours
    ],
)
def test_decisions(row, risk, action, rule) -> None:
    _, policy = apply_images_option(ScanConfig(inputs=["x"]), None, ImagesOption())
    policy = policy.model_copy(update={"review": None})
    versions = {d: "1" for d in policy.detectors or []}
    out = policy.decide(_frame([row]), versions).row(0, named=True)
    assert (out["risk"], out["action"], out["rule"]) == (risk, action, rule)


def test_missing_extra_names_the_install_command(monkeypatch) -> None:
    import importlib.util

    from childguard.detect.base import DetectorError
    from childguard.vision.detector import ImagesDetector

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == "mediapipe" else real(m, *a)
    )
    with pytest.raises(DetectorError, match=r"needs mediapipe.*pip install .*\[vision\]"):
        ImagesDetector()


def test_gpu_option_reaches_the_ray_worker_spec() -> None:
    pytest.importorskip("ray", reason="ray (the ray extra) is not installed")
    from childguard.engine.ray import worker_resources
    from childguard.vision import REQUIRES
    from childguard.vision.detector import ImagesDetector

    if any(importlib_missing(m) for m in REQUIRES):
        pytest.skip("the vision extra is not installed")
    spec = worker_resources([ImagesDetector(num_gpus=0.5)])
    assert spec.num_gpus == 0.5 and spec.stateful  # GPU actors, models loaded once per actor
    assert worker_resources([ImagesDetector()]).num_gpus == 0.0


def importlib_missing(module: str) -> bool:
    """Is `module` not importable here?"""
    import importlib.util

    return importlib.util.find_spec(module) is None


@pytest.mark.parametrize("flag", ["--fetch", "--image-source=x"])
def test_image_flags_need_images(tmp_path, flag: str) -> None:
    res = CliRunner().invoke(app, ["scan", str(tmp_path), flag])
    assert res.exit_code != 0 and "need --images" in res.output


def test_image_sources_are_checked_and_made_absolute(tmp_path, monkeypatch) -> None:
    (tmp_path / "pics").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg, _ = apply_images_option(ScanConfig(inputs=["x"]), None, ImagesOption(sources=["pics"]))
    assert cfg.detector_options[DETECTOR]["sources"] == [str(tmp_path / "pics")]
    with pytest.raises(ValueError, match="--image-source not found: nope"):
        apply_images_option(ScanConfig(inputs=["x"]), None, ImagesOption(sources=["nope"]))
