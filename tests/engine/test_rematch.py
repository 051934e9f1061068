"""`childguard rematch`: an audit brought up to date with new list versions, lists only; the
refusal of a resume that says what changed; the demo's own empty list store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.engine.config_diff import compare, list_versions
from childguard.scan_cli import demo_sample_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("CHILDGUARD_HOME", str(h))
    return h


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    shutil.copy(demo_sample_dir() / "laion-part-00000.parquet", d)
    return d


def cli(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def scan(data: Path, out: Path, *extra: str) -> tuple[int, str]:
    return cli("scan", data, "--out", out, "--workers", "1", "--no-progress", *extra)


def urls(data: Path) -> list[str]:
    return pq.read_table(data / "laion-part-00000.parquet").column("URL").to_pylist()


def findings(out: Path) -> dict[int, dict]:
    (path,) = (out / "findings").glob("*.parquet")
    return {r["row_index"]: r for r in pq.read_table(path).to_pylist()}


def lines(path: Path, items: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in items))
    return path


def test_rematch_blocks_a_newly_listed_row_and_leaves_the_rest(tmp_path, home, data) -> None:
    u = urls(data)
    assert cli("lists", "add", "hot", lines(tmp_path / "v1.txt", [u[5]]))[0] == 0
    out = tmp_path / "audit"
    assert scan(data, out)[0] == 0
    before = findings(out)
    flagged = next(i for i, r in before.items() if r["risk"] == "identifiable_child")
    clean = next(i for i in range(len(u)) if i not in before)
    assert before[5]["risk"] == "blocked"
    assert cli("lists", "add", "hot", lines(tmp_path / "v2.txt", [u[clean], u[flagged]]))[0] == 0

    code, msg = scan(data, out)  # refused, saying what changed and what to do
    assert code == 2
    assert "takedown list hot: v1 -> v2" in msg
    assert f"rematch {out}" in msg.replace("\n", " ")

    code, msg = cli("rematch", out)
    assert code == 0, msg
    assert "hot@v1 -> hot@v2" in msg and "2 newly matched" in msg
    after = findings(out)
    for i in (clean, flagged, 5):
        assert after[i]["risk"] == "blocked" and after[i]["rule"] == "takedown_list_match"
        assert any("list:hot@v2" in x["evidence"] for x in after[i]["reasons"])
    # every other row's finding is exactly what it was
    assert {i: r for i, r in after.items() if i not in (clean, flagged, 5)} == {
        i: r for i, r in before.items() if i not in (flagged, 5)
    }
    run = json.loads((out / "run.json").read_text())
    (entry,) = run["rematches"]
    assert entry["lists_before"] == ["hot@1"] and entry["lists_after"] == ["hot@2"]
    assert entry["rows_newly_matched"] == 2 and entry["finished"]
    assert list_versions(run["detectors"]) == {"hot": 2}
    assert run["summary"]["risk_counts"]["blocked"] == 3
    stats = json.loads(next((out / "stats").glob("*.json")).read_text())
    assert stats["risk_counts"]["blocked"] == 3 and stats["findings"] == len(after)

    # the report's Run section says so, with every list and version
    assert cli("report", out, "--out", tmp_path / "report.html")[0] == 0
    html = (tmp_path / "report.html").read_text()
    assert "lists re-matched" in html and "hot@1 → hot@2 (2 rows newly matched" in html
    assert "<code>hot@v2</code>" in html

    # a plain re-run now resumes, and the audit equals a new scan with these lists
    code, msg = scan(data, out)
    assert code == 0 and "1 already done" in msg
    assert json.loads((out / "run.json").read_text())["rematches"] == run["rematches"]
    assert scan(data, tmp_path / "fresh")[0] == 0
    assert findings(tmp_path / "fresh") == after
    assert cli("rematch", out)[1].count("nothing to do") == 1


def test_rematch_after_a_retraction_decides_the_row_again(tmp_path, home, data) -> None:
    u = urls(data)
    out = tmp_path / "audit"
    assert scan(data, tmp_path / "nolists")[0] == 0
    flagged = next(i for i, r in findings(tmp_path / "nolists").items() if r["risk"] == "child")
    cli("lists", "add", "hot", lines(tmp_path / "v1.txt", [u[flagged], u[3]]))
    assert scan(data, out)[0] == 0
    assert findings(out)[flagged]["risk"] == "blocked"
    assert cli("lists", "rm", "hot", "--entries", lines(tmp_path / "x.txt", [u[flagged]]))[0] == 0
    code, msg = cli("rematch", out)
    assert code == 0 and "1 no longer matched" in msg, msg
    assert findings(out)[flagged] == findings(tmp_path / "nolists")[flagged]
    assert findings(out)[3]["risk"] == "blocked"


def test_refusal_for_other_changes_says_start_a_new_audit(tmp_path, home, data) -> None:
    out = tmp_path / "audit"
    assert scan(data, out)[0] == 0
    code, msg = scan(data, out, "--policy", "rules")
    assert code == 2
    assert "policy" in msg and "another --out" in msg and "rematch" not in msg
    code, msg = cli("rematch", out)  # nothing to re-match: the audit is as its lists are
    assert code == 0 and "nothing to do" in msg


def test_interrupted_rematch_blocks_a_scan_until_rerun(tmp_path, home, data) -> None:
    u = urls(data)
    out = tmp_path / "audit"
    assert scan(data, out)[0] == 0
    cli("lists", "add", "hot", lines(tmp_path / "v1.txt", [u[7]]))
    run = json.loads((out / "run.json").read_text())
    run["rematch_unfinished"] = {"started": "x", "config_hash_before": run["config_hash"]}
    run["config_hash"] = "rematch-unfinished"
    (out / "run.json").write_text(json.dumps(run))
    code, msg = scan(data, out)
    assert code == 2 and "interrupted" in msg
    assert cli("rematch", out)[0] == 0
    assert scan(data, out)[0] == 0
    assert findings(out)[7]["risk"] == "blocked"


def test_compare_names_each_change() -> None:
    def run(lists, version="1", policy="2", batch=65536):
        return {
            "config": {"batch_rows": batch},
            "policy": {"version": policy},
            "policy_hash": policy,
            "detectors": [
                {"name": "takedown_lists", "version": "1", "options": {}, "lists": lists},
                {"name": "names", "version": version, "options": {}},
            ],
        }

    a = run([{"name": "hot", "version": 1}, {"name": "old", "version": 4}])
    b = run([{"name": "hot", "version": 3}, {"name": "new", "version": 1}])
    d = compare(a, b)
    assert d.lists == ["hot: v1 -> v3", "new: added (v1)", "old: no longer used (was v4)"]
    assert d.lists_only
    d = compare(a, run(a["detectors"][0]["lists"], version="2", policy="3", batch=10))
    assert not d.lists and not d.lists_only
    assert "detector names: version 1 -> 2" in d.other
    assert any(x.startswith("policy '2' -> '3'") for x in d.other)
    assert "setting batch_rows: 65536 -> 10" in d.other


def test_demo_ignores_the_users_list_store(tmp_path, home) -> None:
    u = urls(demo_sample_dir())
    cli("lists", "add", "mine", lines(tmp_path / "l.txt", u[:50]))
    code, msg = cli("demo", "--out", tmp_path / "demo", "--workers", "1")
    assert code == 0, msg
    run = json.loads((tmp_path / "demo" / "audit" / "run.json").read_text())
    assert run["summary"]["risk_counts"]["blocked"] == 0
    assert list_versions(run["detectors"]) == {}
    assert not (home / "lists" / ".audits").exists()  # nor pins anything in it


def test_rematch_lists_option_chooses_and_records_the_lists(tmp_path, home, data) -> None:
    u = urls(data)
    cli("lists", "add", "hot", lines(tmp_path / "v1.txt", [u[2]]))
    cli("lists", "add", "hot", lines(tmp_path / "v2.txt", [u[9]]))
    out = tmp_path / "audit"
    assert scan(data, out, "--lists", "hot@1")[0] == 0
    code, msg = cli("rematch", out)  # the audit pins hot@1: kept
    assert code == 0 and "nothing to do" in msg and "--lists NAME" in " ".join(msg.split())
    code, msg = scan(data, out, "--lists", "hot")  # refused, and told the rematch to run
    assert code == 2 and "hot: v1 -> v2" in msg and f"rematch {out} --lists hot" in msg
    assert cli("rematch", out, "--lists", "hot")[0] == 0
    assert findings(out)[9]["risk"] == "blocked"
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["detector_options"]["takedown_lists"]["lists"] == ["hot"]
    assert cli("rematch", out)[0] == 0 and scan(data, out, "--lists", "hot")[0] == 0
