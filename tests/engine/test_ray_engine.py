"""The Ray engine gives the local engine's outputs byte for byte, survives killed workers and a
killed driver, and fails at once with a clear message when Ray is not installed."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from childguard.config import ScanConfig
from childguard.detect.base import Resources
from childguard.policy import Policy

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # cg_ray_probe: the probe detectors, a scan plugin

BATCH_ROWS = 256
WORDS = ["kid", "sunset", "school", "beach", "Kid 7", "car", "dog", "KIDS room", "tree", None]


def _rows(n: int, seed: int) -> tuple[list[str], list[str | None]]:
    urls = [f"https://img{seed}.example.org/p/{i}.jpg" for i in range(n)]
    texts: list[str | None] = []
    for i in range(n):
        w = WORDS[(i * 7 + seed) % len(WORDS)]
        texts.append(None if w is None else f"{w} {i}" if i % 3 == 0 else w)
    return urls, texts


@pytest.fixture(scope="module", autouse=True)
def _probe_detectors_stay_here():
    """The probe detectors register themselves when a scan imports the plugin; take them out
    of the registry afterwards, so other test modules see only their own detectors."""
    from childguard.detect import REGISTRY

    yield
    # only the probe's own detectors go: built-ins registered meanwhile must stay
    for name, cls in list(REGISTRY._classes.items()):
        if cls.__module__ == "cg_ray_probe":
            del REGISTRY._classes[name]
    sys.modules.pop("cg_ray_probe", None)


def _policy(detector: str) -> Policy:
    return Policy.model_validate(
        {
            "detectors": [detector],
            "rules": [
                {
                    "name": "kid_with_number",
                    "risk": "identifiable_child",
                    "when": f"{detector} >= 0.9",
                },
                {"name": "kid", "risk": "child", "when": detector},
            ],
        }
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """3 LAION-like parquet shards with several row groups, a CSV, a JSONL.gz, a bad shard."""
    root = tmp_path_factory.mktemp("ray-data")
    for s in range(3):
        urls, texts = _rows(1500 + 250 * s, s)
        t = pa.table({"URL": urls, "TEXT": texts, "similarity": [0.3] * len(urls)})
        pq.write_table(t, root / f"part-{s:05d}.parquet", row_group_size=500)
    urls, texts = _rows(700, 5)
    with open(root / "extra.csv", "w", encoding="utf-8") as f:
        f.write("url,caption\n")
        for u, t in zip(urls, texts, strict=True):
            f.write(f'{u},"{t or ""}"\n')
    urls, texts = _rows(400, 6)
    with gzip.open(root / "coyo.jsonl.gz", "wt", encoding="utf-8") as f:
        for u, t in zip(urls, texts, strict=True):
            f.write(json.dumps({"url": u, "text": t}) + "\n")
    pq.write_table(pa.table({"nothing": [1, 2]}), root / "bad.parquet")
    return root


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    # workers (also those of other drivers joining this cluster) inherit the raylet's
    # environment: that is how they find the probe plugin
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), old) if p)
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=200 << 20,
            log_to_driver=False,
        )
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _config(dataset: Path, out: Path, detector: str, engine: str, **options) -> ScanConfig:
    return ScanConfig(
        inputs=[str(dataset)],
        out=str(out),
        engine=engine,
        workers=2 if engine == "ray" else 1,
        batch_rows=BATCH_ROWS,
        detectors=[detector],
        detector_options={detector: options} if options else {},
        plugins=["cg_ray_probe"],
    )


def _local(dataset: Path, out: Path, detector: str):
    from childguard.engine.local import run_scan

    return run_scan(_config(dataset, out, detector, "local"), _policy(detector), progress=False)


def _assert_same_outputs(a: Path, b: Path) -> None:
    fa = sorted(p.name for p in (a / "findings").glob("*.parquet"))
    assert fa == sorted(p.name for p in (b / "findings").glob("*.parquet"))
    assert len(fa) == 5  # the bad shard has stats (failed), no findings
    for name in fa:
        assert (a / "findings" / name).read_bytes() == (b / "findings" / name).read_bytes(), name
    for sa in sorted((a / "stats").glob("*.json")):
        ja, jb = json.loads(sa.read_text()), json.loads((b / "stats" / sa.name).read_text())
        ja.pop("seconds", None), jb.pop("seconds", None)
        assert ja == jb, sa.name
    assert not (b / "_state").exists() or not any((b / "_state").iterdir())
    ra, rb = json.loads((a / "run.json").read_text()), json.loads((b / "run.json").read_text())
    assert ra["inputs"] == rb["inputs"]
    assert ra["summary"]["risk_counts"] == rb["summary"]["risk_counts"]


def _flagged_rows(out: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (out / "findings").glob("*.parquet"))


@pytest.mark.ray
def test_worker_spec_from_declared_resources(ray_cluster):
    import cg_ray_probe

    from childguard.engine.ray import worker_resources

    tasks = worker_resources([cg_ray_probe.RayProbe()])
    assert (tasks.stateful, tasks.num_cpus, tasks.num_gpus, tasks.memory) == (False, 1.0, 0, 0)
    model = worker_resources([cg_ray_probe.RayProbe(), cg_ray_probe.RayProbeModel()])
    assert model.stateful and model.memory == 64 << 20

    class OnGpu(cg_ray_probe.RayProbe):  # a model declaring half a GPU: an actor, even
        name = "ray_probe_gpu"  # without `stateful`, holding GPU fractions summed
        resources = Resources(num_cpus=2.0, num_gpus=0.5)

    gpu = worker_resources([OnGpu(), OnGpu(), cg_ray_probe.RayProbe()])
    assert (gpu.stateful, gpu.num_cpus, gpu.num_gpus) == (True, 2.0, 1.0)


@pytest.mark.ray
@pytest.mark.parametrize("detector", ["ray_probe", "ray_probe_model"])
def test_same_findings_as_local_with_a_worker_killed(ray_cluster, dataset, tmp_path, detector):
    """Tasks (stateless) and actor pool (stateful): a worker SIGKILLed mid-task is retried."""
    from childguard.engine.ray import run_scan

    ref = _local(dataset, tmp_path / "local", detector)
    assert ref.rows == 1500 + 1750 + 2000 + 700 + 400
    assert 0 < _flagged_rows(tmp_path / "local") < ref.rows
    sentinel = tmp_path / "killed"
    cfg = _config(
        dataset, tmp_path / "ray", detector, "ray", kill_once=str(sentinel), kill_row=1100
    )
    res = run_scan(cfg, _policy(detector), progress=False)
    assert sentinel.exists(), "the probe never killed its worker"
    assert int(sentinel.read_text()) != os.getpid()
    assert res.rows == ref.rows and res.risk_counts == ref.risk_counts
    assert [f["shard_id"] for f in res.failed] == [f["shard_id"] for f in ref.failed]
    _assert_same_outputs(tmp_path / "local", tmp_path / "ray")


CONFIG = """
[scan]
plugins = ["cg_ray_probe"]
detectors = ["ray_probe"]
[scan.detector_options.ray_probe]
delay = 0.15
log_dir = {log!r}

[policy]
detectors = ["ray_probe"]
[[policy.rules]]
name = "kid_with_number"
risk = "identifiable_child"
when = "ray_probe >= 0.9"
[[policy.rules]]
name = "kid"
risk = "child"
when = "ray_probe"
"""


def _done_tasks(out: Path) -> set[tuple[str, int]]:
    """Task markers written so far. The scan removes a shard's state folder once the shard is
    finalised, so a folder (or marker) may vanish while we look: look again."""
    for _ in range(20):
        try:
            done = set()
            for m in (out / "_state").glob("*/task-*.done.json"):
                off = json.loads(m.read_text())["row_offset"]
                done.add((m.parent.name, off))
            return done
        except FileNotFoundError:
            time.sleep(0.05)
    return set()


@pytest.mark.ray
def test_resume_after_driver_killed(ray_cluster, dataset, tmp_path):
    from childguard.engine.ray import run_scan

    _local(dataset, tmp_path / "local", "ray_probe")
    log = tmp_path / "log"
    conf = tmp_path / "scan.toml"
    conf.write_text(CONFIG.format(log=str(log)))
    # the driver: `childguard scan --engine ray --ray-address ...` joining the running
    # cluster, as a job on a real cluster does
    cmd = [str(Path(sys.executable).with_name("childguard")), "scan", str(dataset)]
    cmd += ["--out", str(tmp_path / "ray"), "--engine", "ray", "--ray-address", ray_cluster]
    cmd += ["--config", str(conf), "--workers", "2", "--batch-rows", str(BATCH_ROWS)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    proc = subprocess.Popen(
        [*cmd, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while len(_done_tasks(tmp_path / "ray")) < 4:
            assert proc.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, "no task finished within 60 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run["status"] == "running"  # it really died mid-way
    done_before = _done_tasks(tmp_path / "ray")
    seen_before = set(os.listdir(log))
    shutil.copytree(tmp_path / "ray", tmp_path / "ray-then-local")

    # the same scan again, in this process (already connected to the cluster)
    cfg = _config(dataset, tmp_path / "ray", "ray_probe", "ray", delay=0.15, log_dir=str(log))
    res = run_scan(cfg, _policy("ray_probe"), progress=False)
    assert res.ok is False and [f["shard_id"][:3] for f in res.failed] == ["bad"]
    _assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    # the re-run did not redo a task that had its marker when the driver died
    redone = {tuple(n.split("@")[:2]) for n in set(os.listdir(log)) - seen_before}
    # parquet tasks are 500-row groups; the CSV and JSONL shards are one task each
    redone_tasks = {
        (s, 0 if s.startswith(("extra", "coyo")) else int(r) // 500 * 500) for s, r in redone
    }
    assert redone and not (redone_tasks & done_before)

    # the local engine resumes what the Ray engine left, to the same bytes
    from childguard.engine.local import run_scan as run_local

    cfg = _config(dataset, tmp_path / "ray-then-local", "ray_probe", "local", delay=0.15)
    cfg.detector_options["ray_probe"]["log_dir"] = str(log)  # same configuration as above
    res = run_local(cfg, _policy("ray_probe"), progress=False)
    assert [f["shard_id"][:3] for f in res.failed] == ["bad"]
    _assert_same_outputs(tmp_path / "local", tmp_path / "ray-then-local")


@pytest.mark.ray
def test_retried_task_with_a_marker_is_not_redone(dataset, tmp_path):
    """A worker that dies after writing its marker: the retry reports the marker's counts."""
    pytest.importorskip("ray")
    from childguard.engine.tasks import ScanContext, ScanWorker, plan_shard, scan_job, setup_worker
    from childguard.io.paths import expand_inputs

    ctx = ScanContext(
        out=str(tmp_path),
        policy=_policy("ray_probe"),
        detector_names=["ray_probe"],
        detector_options={},
        batch_rows=BATCH_ROWS,
        plugins=["cg_ray_probe"],
    )
    shard = next(s for s in expand_inputs([str(dataset)]) if "part-00001" in s.path)
    plan = plan_shard(shard, ctx)
    assert plan.info is not None
    task, worker = plan.pending[1], setup_worker(ScanWorker(ctx))
    first = scan_job(worker, plan.info, task)
    part = ctx.layout.part(shard.shard_id, task.index)
    written = part.stat().st_mtime_ns
    again = scan_job(worker, plan.info, task)
    assert not first.skipped and again.skipped
    assert again.rows == first.rows == sum(first.risk_counts.values()) == 500
    assert again.risk_counts == first.risk_counts and first.risk_counts["clean"] < 500
    assert part.stat().st_mtime_ns == written


MULTI_NODE = """
import pathlib, sys
import ray
from ray.cluster_utils import Cluster
from childguard.executors.ray import check_shared_out
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
for _ in range(2):
    cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, log_to_driver=False)
cluster.wait_for_nodes()
out = pathlib.Path(sys.argv[1])
check_shared_out(out)  # one probe task pinned to each node with CPUs
print("nodes", len([n for n in ray.nodes() if n["Alive"]]), "left", sorted(out.iterdir()))
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.ray
@pytest.mark.slow
def test_shared_out_probe_on_a_multi_node_cluster(tmp_path):
    """Every node of a (simulated, 3-node) cluster sees --out: the probe passes, leaves nothing."""
    pytest.importorskip("ray")
    script = tmp_path / "multi.py"
    script.write_text(MULTI_NODE)
    (tmp_path / "out").mkdir()
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "nodes 3 left []" in r.stdout


@pytest.mark.ray
def test_unreachable_cluster_fails_at_once(dataset, tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("childguard")), "scan", str(dataset)]
    cmd += ["--out", str(tmp_path / "out"), "--engine", "ray"]
    cmd += ["--ray-address", f"127.0.0.1:{port}", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "cannot join the Ray cluster" in r.stderr.replace("\n", " ")
    assert not (tmp_path / "out").exists()


def test_missing_ray_fails_at_once(monkeypatch, tmp_path, capsys):
    from childguard import scan_cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.delitem(sys.modules, "childguard.engine.ray", raising=False)
    with pytest.raises(ImportError):
        import childguard.engine.ray  # noqa: F401
    cfg = ScanConfig(inputs=[str(tmp_path)], out=str(tmp_path / "out"), engine="ray")
    assert scan_cli.run_scan_command(cfg, None, None, False, False) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "--engine ray needs Ray: pip install" in err
    assert not (tmp_path / "out").exists()  # nothing ran, no silent fallback

    from typer.testing import CliRunner

    from childguard.cli import app
    from childguard.install import install_hint

    monkeypatch.delitem(sys.modules, "childguard.executors.ray", raising=False)
    for args in (
        ["release", str(tmp_path), "--out", str(tmp_path / "rel")],
        ["apply", str(tmp_path), str(tmp_path)],
    ):
        r = CliRunner().invoke(app, [*args, "--engine", "ray"])
        assert r.exit_code == 2, r.output
        assert f"--engine ray needs Ray: {install_hint('ray')}" in r.output
    assert not (tmp_path / "rel").exists()


# ------------------------------------------------------------------------------------------
# release and apply


@pytest.fixture(scope="module")
def scanned(dataset, tmp_path_factory) -> tuple[Path, Path]:
    """The good shards of `dataset` and their audit (the scan is engine-independent)."""
    root = tmp_path_factory.mktemp("ray-release")
    ds = root / "ds"
    ds.mkdir()
    for p in dataset.iterdir():
        if p.name != "bad.parquet":
            shutil.copy(p, ds / p.name)
    res = _local(ds, root / "audit", "ray_probe")
    assert res.ok
    return ds, root / "audit"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.ray
def test_release_and_apply_on_ray_give_the_local_bytes(ray_cluster, scanned, tmp_path):
    from typer.testing import CliRunner

    from childguard.cli import app
    from childguard.release.apply import apply_manifest
    from childguard.release.build import build_release

    ds, audit = scanned
    local = build_release(audit, tmp_path / "rel-local", release_id="r1")
    cli = CliRunner()
    args = ["release", str(audit), "--out", str(tmp_path / "rel-ray"), "--id", "r1"]
    r = cli.invoke(app, [*args, "--engine", "ray"])
    assert r.exit_code == 0, r.output
    a, b = _tree(tmp_path / "rel-local"), _tree(tmp_path / "rel-ray")
    ma, mb = json.loads(a.pop("manifest.json")), json.loads(b.pop("manifest.json"))
    ma.pop("created"), mb.pop("created")
    assert ma == mb and a == b
    assert 0 < local.manifest["counts"]["rows_removed"] < local.manifest["counts"]["rows_in"]
    assert len([n for n in a if n.startswith("data/")]) == 5

    # apply the manifest to the original copy: a purged copy under --out, same bytes
    apply_manifest(tmp_path / "rel-local", [ds], out=tmp_path / "copy-local")
    args = ["apply", str(tmp_path / "rel-local"), str(ds), "--out", str(tmp_path / "copy-ray")]
    r = cli.invoke(app, [*args, "--engine", "ray", "--json"])
    assert r.exit_code == 0, r.output
    reports = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert sorted(x["path"] for x in reports) == sorted(str(p) for p in ds.iterdir())
    assert sum(x["removed"] for x in reports) == local.manifest["counts"]["rows_removed"]
    copy_local, copy_ray = _tree(tmp_path / "copy-local"), _tree(tmp_path / "copy-ray")
    assert copy_local == copy_ray and len(copy_local) >= 5
    # and the purged copy is the release's data, file for file
    for name, data in a.items():
        if name.startswith("data/"):
            assert copy_ray[name.removeprefix("data/")] == data, name


@pytest.mark.ray
def test_release_error_in_a_ray_worker_aborts_cleanly(ray_cluster, scanned, tmp_path):
    from childguard.executors.ray import RayExecutor
    from childguard.release.build import ReleaseError, build_release

    _, audit = scanned
    bad = tmp_path / "audit"
    shutil.copytree(audit, bad)
    stats = next((bad / "stats").glob("extra-*.json"))
    st = json.loads(stats.read_text())
    counts = {**st["risk_counts"], "clean": st["risk_counts"]["clean"] + 1}
    stats.write_text(json.dumps({**st, "rows": st["rows"] + 1, "risk_counts": counts}))
    with pytest.raises(ReleaseError, match="the scan counted"):
        build_release(bad, tmp_path / "rel", executor=RayExecutor())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]  # nothing published
