"""Policy: rules are data, parsed safely, evaluated vectorised, first match wins."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from childguard.policy import Policy, PolicyError, load_policy


def policy(**kw) -> Policy:
    return Policy.model_validate(
        {
            "rules": [
                {"name": "listed", "risk": "blocked", "when": "lists"},
                {
                    "name": "ident",
                    "risk": "identifiable_child",
                    "when": "minor and (name or school)",
                },
                {"name": "minor", "risk": "child", "when": "minor >= 0.8 or (minor and not pet)"},
            ],
            **kw,
        }
    )


def frame(**cols: list[float]) -> pl.DataFrame:
    data = {}
    for name, scores in cols.items():
        data[f"{name}__score"] = [float(s) for s in scores]
        data[f"{name}__evidence"] = ["e" if s else None for s in scores]
    return pl.DataFrame(data)


def test_first_rule_wins_and_actions() -> None:
    scores = frame(
        lists=[1, 0, 0, 0, 0, 0],
        minor=[1, 1, 1, 0.6, 0.6, 0],
        name=[1, 1, 0, 0, 0, 1],
        school=[0, 0, 0, 0, 0, 0],
        pet=[0, 0, 0, 0, 1, 0],
    )
    p = policy()
    out = p.decide(scores, {})
    assert out["risk"].to_list() == [
        "blocked",
        "identifiable_child",
        "child",
        "child",
        "clean",
        "clean",
    ]
    assert out["action"].to_list() == ["remove", "remove", "review", "review", "keep", "keep"]
    assert out["rule"].to_list() == ["listed", "ident", "minor", "minor", None, None]


def test_thresholds_and_reasons() -> None:
    scores = frame(lists=[0.0], minor=[0.55], name=[0.7], school=[0], pet=[0])
    p = policy(thresholds={"minor": 0.6})
    assert p.decide(scores, {})["risk"].to_list() == ["clean"]
    p2 = policy()
    assert p2.decide(scores, {})["risk"].to_list() == ["identifiable_child"]
    reasons = p2.reasons(scores, {"minor": "3", "name": "2"})[0]
    assert {(r["detector"], r["version"], r["threshold"]) for r in reasons} == {
        ("minor", "3", 0.5),
        ("name", "2", 0.5),
    }


@pytest.mark.parametrize(
    "expr",
    ["__import__('os').system('x')", "a.b", "a + 1", "a >= 'x'", "lambda: 1", "a[0]", "(a"],
)
def test_unsafe_or_invalid_rules_are_rejected(expr: str) -> None:
    with pytest.raises(ValueError):
        Policy.model_validate({"rules": [{"name": "r", "risk": "child", "when": expr}]})


def test_rule_naming_missing_detector() -> None:
    with pytest.raises(PolicyError, match="not running"):
        policy().decide(frame(minor=[1.0]), {})


def test_load_toml_and_yaml(tmp_path: Path) -> None:
    t = tmp_path / "p.toml"
    t.write_text(
        'version = "9"\n[[rules]]\nname = "r"\nrisk = "child"\nwhen = "a"\n'
        '[actions]\nchild = "remove"\n'
    )
    y = tmp_path / "p.yaml"
    y.write_text(
        "version: '9'\nrules:\n  - {name: r, risk: child, when: a}\nactions: {child: remove}\n"
    )
    assert load_policy(t) == load_policy(y)
    assert load_policy(t).actions["child"] == "remove"
    assert load_policy(t).fingerprint() == load_policy(y).fingerprint()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "r"\nrisk = "adult"\nwhen = "a"\n')
    with pytest.raises(PolicyError, match=r"bad\.toml"):
        load_policy(bad)


def test_yaml_and_toml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    from childguard.config import load_config_file

    for name, text in (("bad.yaml", "rules: [unclosed\n"), ("bad.toml", "rules = [\n")):
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(PolicyError, match=re.escape(str(f))):
            load_policy(f)
        with pytest.raises(PolicyError, match=re.escape(str(f))):
            load_config_file(f)
    cfg = tmp_path / "c.yml"
    cfg.write_text("scan: {batch_rows: 1000}\n")
    assert load_config_file(cfg) == ({"batch_rows": 1000}, None)


def test_reasons_compare_scores_as_decide_does() -> None:
    # NaN ranks above every number in Polars, where `decide` compares: such a row is flagged,
    # and its reasons must name the detector too
    import math

    import polars as pl

    policy = Policy.model_validate(
        {"version": "t", "rules": [{"name": "r", "risk": "child", "when": "a >= 0.5 or b"}]}
    )
    flagged = pl.DataFrame(
        {
            "a__score": [0.7, float("nan"), 0.2, None, 0.0],
            "a__evidence": ["x", "y", "z", None, None],
            "b__score": [0.0, 0.0, 0.9, 0.3, float("nan")],
            "b__evidence": [None, None, "w", "v", "u"],
        }
    )
    decided = policy.decide(flagged, {"a": "1", "b": "1"})
    rules = decided["rule"].to_list()
    got = policy.reasons(flagged, {"a": "1", "b": "1"}, rules)
    names = [[r["detector"] for r in row] for row in got]
    assert names == [["a"], ["a"], ["a", "b"], [], ["b"]]
    assert rules[3] is None  # b = 0.3 is under its threshold: clean
    assert math.isnan(got[1][0]["score"]) and got[2][0]["score"] == 0.2
