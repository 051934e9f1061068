"""End-to-end scans: outputs, resume, kill -9, bad shards, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app

from datagen import cli_cmd, make_rows, write_jsonl

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parent


def make_dataset(root: Path, shards: int = 3, rows: int = 1000, row_group: int = 250) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        data = make_rows(rows, start=s * rows)
        pq.write_table(
            pa.table({"URL": [u for u, _ in data], "TEXT": [t for _, t in data]}),
            root / f"part-{s:05d}.parquet",
            row_group_size=row_group,
        )
    return root


def scan_args(inputs: list[str], out: Path, policy: Path, *extra: str) -> list[str]:
    return ["scan", *inputs, "--out", str(out), "--policy", str(policy), "--no-progress", *extra]


def _env() -> dict[str, str]:
    """The CLI subprocess imports the plugin and the same childguard as this test process
    (not whatever checkout the environment's console script points at)."""
    paths = [str(PLUGIN_DIR), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_cli(args: list[str]) -> tuple[int, str]:
    # the plugin module defines the test detector; workers import it by name (config.plugins)
    import kw_plugin  # noqa: F401

    res = CliRunner().invoke(app, args)
    return res.exit_code, res.output


def findings_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "findings").glob("*.parquet"))}


@pytest.fixture
def cfg(tmp_path: Path, policy_file: Path) -> Path:
    c = tmp_path / "scan.toml"
    c.write_text(
        '[scan]\nplugins = ["kw_plugin"]\n\n'
        + "[policy]\n"
        + "\n".join(
            line.replace("[[rules]]", "[[policy.rules]]")
            for line in policy_file.read_text().splitlines()
        )
    )
    return c


def test_scan_outputs_and_conservation(tmp_path: Path, cfg: Path, policy_file: Path) -> None:
    data = make_dataset(tmp_path / "data")
    write_jsonl(
        tmp_path / "data" / "extra.jsonl", [{"url": u, "text": t} for u, t in make_rows(77)]
    )
    out = tmp_path / "audit"
    code, output = run_cli(
        [
            "scan",
            str(data),
            "--out",
            str(out),
            "--config",
            str(cfg),
            "--workers",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0, output
    assert "identifiable_child" in output and "total" in output
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["config"]["workers"] == 2
    assert {d["name"] for d in run["detectors"]} == {"kw_test"}
    assert len(run["inputs"]) == 4 and all(i["size"] > 0 for i in run["inputs"])
    total = 0
    for stats_file in (out / "stats").glob("*.json"):
        stats = json.loads(stats_file.read_text())
        assert stats["status"] == "ok"
        assert sum(stats["risk_counts"].values()) == stats["rows"]
        f = pq.read_table(out / "findings" / f"{stats['shard_id']}.parquet")
        assert f.num_rows == stats["rows"] - stats["risk_counts"]["clean"]
        idx = f.column("row_index").to_pylist()
        assert idx == sorted(idx) and len(set(idx)) == len(idx)
        total += stats["rows"]
        if stats["format"] == "parquet":
            shard_no = int(Path(stats["path"]).stem.split("-")[1])
            expected = [
                i
                for i in range(1000)
                if (i + shard_no * 1000) % 7 == 0 or (i + shard_no * 1000) % 50 == 0
            ]
            assert idx == expected
            risks = dict(zip(idx, f.column("risk").to_pylist(), strict=True))
            assert all(
                (risks[i] == "identifiable_child") == ((i + shard_no * 1000) % 50 == 0) for i in idx
            )
    assert total == 3 * 1000 + 77
    f = pq.read_table(next((out / "findings").glob("part-00000-*.parquet")))
    assert f.schema.names == [
        "row_index",
        "url_sha256",
        "laion_hash",
        "risk",
        "action",
        "rule",
        "reasons",
        "picture",  # null: no images detector ran (`scan --images`)
    ]
    rec = f.to_pylist()[0]
    assert rec["picture"] is None
    assert len(rec["url_sha256"]) == 64 and rec["reasons"][0]["detector"] == "kw_test"
    assert rec["action"] == "remove" and rec["rule"] == "kw_school"


def test_rerun_skips_and_is_byte_identical(tmp_path: Path, cfg: Path) -> None:
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "audit"
    args = [
        "scan",
        str(data),
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--workers",
        "1",
        "--no-progress",
    ]
    assert run_cli(args)[0] == 0
    first = findings_bytes(out)
    # a kill between a shard's stats and its state clean-up leaves spent parts: the next run
    # removes them
    stale = out / "_state" / next(p.stem for p in (out / "stats").glob("*.json")) / "part-0.parquet"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"spent")
    code, output = run_cli(args)
    assert code == 0 and "3 already done" in output
    assert findings_bytes(out) == first
    assert not stale.parent.exists()
    # a fresh run elsewhere gives the same bytes
    out2 = tmp_path / "audit2"
    assert run_cli([*args[:3], str(out2), *args[4:]])[0] == 0
    assert findings_bytes(out2) == first


def test_config_change_refuses_to_mix(tmp_path: Path, cfg: Path, policy_file: Path) -> None:
    data = make_dataset(tmp_path / "data", shards=1)
    out = tmp_path / "audit"
    assert (
        run_cli(
            [
                "scan",
                str(data),
                "--out",
                str(out),
                "--config",
                str(cfg),
                "--workers",
                "1",
                "--no-progress",
            ]
        )[0]
        == 0
    )
    cfg.write_text(cfg.read_text().replace('version = "test-1"', 'version = "test-2"'))
    code, output = run_cli(
        ["scan", str(data), "--out", str(out), "--config", str(cfg), "--no-progress"]
    )
    assert code == 2 and "another configuration" in output


def test_bad_shard_does_not_stop_the_run(tmp_path: Path, cfg: Path) -> None:
    data = make_dataset(tmp_path / "data", shards=2)
    (data / "part-broken.parquet").write_bytes(b"PAR1 garbage garbage PAR1")
    pq.write_table(pa.table({"foo": ["a"], "bar": ["b"]}), data / "part-nocols.parquet")
    out = tmp_path / "audit"
    proc = subprocess.run(
        cli_cmd("scan", str(data), "--out", str(out), "--config", str(cfg), "--workers", "2"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2
    assert any("part-broken.parquet" in f for f in failed)
    assert any("part-nocols.parquet" in f and "foo" in f and "bar" in f for f in failed)
    ok = [json.loads(p.read_text()) for p in (out / "stats").glob("*.json")]
    assert sorted(s["status"] for s in ok) == ["failed", "failed", "ok", "ok"]
    # plain progress lines when stderr is not a terminal
    assert "rows/s" in proc.stderr


def test_kill_minus_9_and_resume(tmp_path: Path, cfg: Path) -> None:
    data = make_dataset(tmp_path / "data", shards=6, rows=20_000, row_group=2_000)
    ref = tmp_path / "ref"
    assert (
        run_cli(
            [
                "scan",
                str(data),
                "--out",
                str(ref),
                "--config",
                str(cfg),
                "--workers",
                "1",
                "--no-progress",
            ]
        )[0]
        == 0
    )
    expected = findings_bytes(ref)
    out = tmp_path / "audit"
    cmd = cli_cmd(
        "scan",
        str(data),
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--workers",
        "2",
        "--batch-rows",
        "500",
    )
    env = _env()
    killed = 0
    for delay in (1.5, 2.2, 2.9, 3.6):
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers
            killed += 1
        proc.wait()
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert findings_bytes(out) == expected
    assert not list(out.rglob(".*.tmp-*"))
    assert not (out / "_state").exists() or not any((out / "_state").iterdir())
    run = json.loads((out / "run.json").read_text())
    assert run["summary"]["rows"] == 6 * 20_000
    assert killed >= 1


def test_config_file_fields_and_cli_precedence(tmp_path: Path, cfg: Path) -> None:
    data = make_dataset(tmp_path / "data", shards=1)
    out = tmp_path / "from-config"
    cfg.write_text(
        cfg.read_text().replace(
            "[scan]\n", f'[scan]\nout = "{out}"\nbatch_rows = 100\nworkers = 2\n'
        )
    )
    code, output = run_cli(
        ["scan", str(data), "--config", str(cfg), "--workers", "1", "--no-progress"]
    )
    assert code == 0, output
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["batch_rows"] == 100  # from the file
    assert run["config"]["workers"] == 1  # the command line wins


def test_unknown_engine_and_detector_are_clear_errors(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", shards=1)
    code, output = run_cli(["scan", str(data), "--out", str(tmp_path / "a"), "--engine", "spark"])
    assert code == 2 and "unknown engine 'spark'" in output
    code, output = run_cli(["scan", str(data), "--out", str(tmp_path / "b"), "--detectors", "nope"])
    assert code == 2 and "unknown detector 'nope'" in output


def test_a_scan_with_workers_leaves_no_process_behind(tmp_path: Path) -> None:
    """Workers are joined and multiprocessing's resource tracker is stopped and reaped: where
    PID 1 reaps nothing (containers), a tracker left to exit on its own stays a zombie in the
    scan's process group."""
    import multiprocessing as mp
    from multiprocessing import resource_tracker

    from childguard.config import ScanConfig
    from childguard.engine.local import run_scan

    data = make_dataset(tmp_path / "data", shards=4, rows=400, row_group=100)
    cfg = ScanConfig(inputs=[str(data)], out=str(tmp_path / "a"), workers=2)
    assert run_scan(cfg, progress=False).ok
    assert mp.active_children() == []
    assert resource_tracker._resource_tracker._pid is None  # stopped and waited for
