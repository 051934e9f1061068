"""Detector options are a pydantic model per detector: a misspelt or mistyped option is an
error naming the detector and the option, never a default silently left in force."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.detect import REGISTRY, DetectorError, load_builtin
from childguard.detect.scorer import Scorer
from childguard.detect.takedown_lists import TakedownLists

load_builtin()


def test_a_misspelt_option_names_detector_and_option() -> None:
    says = r"detector 'scorer': unknown option 'modle' \(its options: model\)"
    with pytest.raises(DetectorError, match=says):
        REGISTRY.create(["scorer"], {"scorer": {"modle": "m.json"}})
    says = r"detector 'ages': unknown option 'x' \(its options: none\)"
    with pytest.raises(DetectorError, match=says):
        REGISTRY.create(["ages"], {"ages": {"x": 1}})


def test_a_mistyped_option_says_what_was_expected(tmp_path: Path) -> None:
    home = {"home": str(tmp_path), "lists": []}
    with pytest.raises(DetectorError, match="option 'max_distance': Input should be a valid integer"):
        TakedownLists(**home, max_distance="far")
    with pytest.raises(DetectorError, match="option 'min_quality': Input should be less than or"):
        TakedownLists(**home, min_quality=101)
    with pytest.raises(DetectorError, match=r"option 'lists\.0': Input should be a valid string"):
        TakedownLists(home=str(tmp_path), lists=[3])


def test_options_for_an_unknown_detector_are_an_error() -> None:
    with pytest.raises(DetectorError, match="options given for unknown detector 'agse'; known: "):
        REGISTRY.create(["ages"], {"agse": {}})
    # options for a known detector that does not run are harmless (`--lists` with `--detectors`)
    assert [d.name for d in REGISTRY.create(["ages"], {"takedown_lists": {"lists": []}})] == [
        "ages"
    ]


def test_validated_options_keep_the_recorded_form(tmp_path: Path) -> None:
    """run.json and the resume fingerprint record only the options given, as before."""
    assert Scorer().describe()["options"] == {}
    assert Scorer(model="m.json").options == {"model": "m.json"}
    assert Scorer(model="m.json").opts.model == "m.json"
    # `--lists a,b` and a config file's "a,b" are lists; a Path home is its string
    opts = TakedownLists.parse_options({"lists": "a,b,", "home": tmp_path, "max_distance": "12"})
    assert opts.lists == ["a", "b"] and opts.home == str(tmp_path) and opts.max_distance == 12
    det = TakedownLists(home=tmp_path, lists=[])
    assert det.describe()["options"] == {
        "home": str(tmp_path),
        "lists": [],
        "max_distance": 31,
        "min_quality": 50,
    }
    # workers rebuild detectors from the recorded options: they must validate again
    rebuilt = TakedownLists(**det.describe()["options"])
    assert rebuilt.describe() == det.describe()


def test_a_misspelt_option_in_a_config_file_stops_the_scan(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "part.csv").write_text("url,caption\nhttps://x.example/1.jpg,lake\n")
    cfg = tmp_path / "scan.toml"
    cfg.write_text('[scan.detector_options.takedown_lists]\nmax_distnace = 8\n')
    res = CliRunner().invoke(
        app, ["scan", str(data), "--out", str(tmp_path / "a"), "--config", str(cfg)]
    )
    text = " ".join(res.output.split())
    assert res.exit_code == 2, text
    assert "detector 'takedown_lists': unknown option 'max_distnace'" in text
    assert "Traceback" not in text
    assert not (tmp_path / "a" / "findings").exists()
