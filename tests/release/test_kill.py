"""kill -9 during release and apply: nothing partial under a final name; a re-run finishes.

The child process SIGKILLs itself at a named checkpoint (`CHILDGUARD_KILL_AT`), which makes
each kill point deterministic; the result of the re-run is compared with an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from release.helpers import (
    FLAGS,
    img2dataset_shard,
    make_audit,
    rows,
    write_csv,
    write_jsonl,
    write_laion_parquet,
    write_tsv,
)

RELEASE = (
    "import sys; from childguard.release.build import build_release; "
    "build_release(sys.argv[1], sys.argv[2], release_id='k1', decisions=None); "
    "from childguard.process_exit import exit_process; exit_process(0)"
)
APPLY = (
    "import sys; from childguard.release.apply import apply_manifest; "
    "apply_manifest(sys.argv[1], sys.argv[2:], in_place=True); "
    "from childguard.process_exit import exit_process; exit_process(0)"
)


def _run(code: str, *args: Path, kill_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "CHILDGUARD_KILL_AT"}
    if kill_at:
        env["CHILDGUARD_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], env=env, timeout=120
    ).returncode


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(audit, dataset, reference release made without interruption), shared by the module."""
    tmp_path = tmp_path_factory.mktemp("world")
    d = tmp_path / "ds"
    write_laion_parquet(d / "a.parquet", 120, row_group=25, tag="a")
    write_csv(d / "b.csv.gz", 60, tag="b")
    write_csv(d / "c.csv", 30, header=False, tag="c")
    write_tsv(d / "d.tsv", 25, tag="d")
    write_jsonl(d / "e.jsonl.zst", 40, tag="e")
    make_audit(tmp_path / "audit", [d], FLAGS)
    assert _run(RELEASE, tmp_path / "audit", tmp_path / "ref") == 0
    return tmp_path / "audit", d, tmp_path / "ref"


@pytest.mark.parametrize(
    "point", ["release:shard:1", "release:shard:4", "release:before-json", "release:before-rename"]
)
def test_kill_during_release(world, tmp_path, point):
    audit, _, ref = world
    out = tmp_path / "rel"
    assert _run(RELEASE, audit, out, kill_at=point) == -signal.SIGKILL
    assert not out.exists()  # nothing under the final name
    assert list(tmp_path.glob(".rel.tmp-*"))  # the killed run's work is hidden
    assert _run(RELEASE, audit, out) == 0
    assert _tree(out) == _tree(ref)
    assert not list(tmp_path.glob(".rel.tmp-*"))


def _img2dataset_copy(root: Path) -> Path:
    for s in (0, 1):
        r = rows(24, start=s * 24, tag="i")
        img2dataset_shard(root, s, [x["url"] for x in r], [x["caption"] for x in r])
    return root


@pytest.fixture(scope="module")
def img_release(tmp_path_factory) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp_path = tmp_path_factory.mktemp("img")
    src = tmp_path / "meta"
    src.mkdir()
    r = rows(48, tag="i")
    pq.write_table(
        pa.table({"url": [x["url"] for x in r], "caption": [x["caption"] for x in r]}),
        src / "input.parquet",
    )
    flagged = {1: "identifiable_child", 5: "blocked", 26: "blocked", 3: "blocked"}
    make_audit(tmp_path / "audit", [src / "input.parquet"], {"input.parquet": flagged})
    assert _run(RELEASE, tmp_path / "audit", tmp_path / "rel") == 0
    return tmp_path / "rel"


@pytest.fixture(scope="module")
def tar_ref(img_release, tmp_path_factory) -> Path:
    ref = _img2dataset_copy(tmp_path_factory.mktemp("tarref"))
    assert _run(APPLY, img_release, ref) == 0
    return ref


@pytest.mark.parametrize(
    "point",
    [
        "apply:before-replace:1",  # tar written to its temp file, not yet renamed
        "apply:after-tar:1",  # tar replaced, its parquet and stats not yet
        "apply:after-stats:1",  # stats rewritten, parquet not yet
        "apply:before-replace:3",  # second shard's tar
    ],
)
def test_kill_during_apply(img_release, tar_ref, tmp_path, point):
    ref = tar_ref
    copy = _img2dataset_copy(tmp_path / "copy")
    assert _tree(copy) != _tree(ref)
    original = _tree(copy)
    assert _run(APPLY, img_release, copy, kill_at=point) == -signal.SIGKILL
    # every file under its final name is either the original or the finished version
    now = _tree(copy)
    for name, digest in now.items():
        if ".tmp-" not in name:
            assert digest in (original.get(name), _tree(ref).get(name)), name
    assert _run(APPLY, img_release, copy) == 0
    assert _tree(copy) == _tree(ref)  # stale temp files removed, result identical


def test_kill_during_files_folder_apply(img_release, tmp_path):
    def files_copy(root: Path) -> Path:
        for s in (0, 1):
            r = rows(24, start=s * 24, tag="i")
            img2dataset_shard(root, s, [x["url"] for x in r], [x["caption"] for x in r], "files")
        return root

    ref = files_copy(tmp_path / "ref")
    assert _run(APPLY, img_release, ref) == 0
    copy = files_copy(tmp_path / "copy")
    assert _run(APPLY, img_release, copy, kill_at="apply:file-removed:2") == -signal.SIGKILL
    assert _run(APPLY, img_release, copy) == 0
    assert _tree(copy) == _tree(ref)
    shutil.rmtree(copy)


APPLY_OUT = (
    "import sys; from childguard.release.apply import apply_manifest; "
    "apply_manifest(sys.argv[1], [sys.argv[2]], out=sys.argv[3])"
)


@pytest.mark.parametrize("point", ["apply:after-tar:1", "apply:before-replace:3"])
def test_kill_during_apply_to_out_dir(img_release, tmp_path, point):
    src = _img2dataset_copy(tmp_path / "src")
    assert _run(APPLY_OUT, img_release, src, tmp_path / "ref") == 0
    out = tmp_path / "out"
    assert _run(APPLY_OUT, img_release, src, out, kill_at=point) == -signal.SIGKILL
    assert _run(APPLY_OUT, img_release, src, out) == 0
    ref = _tree(tmp_path / "ref")
    got = _tree(out)
    assert got.pop(".childguard-apply.json") and ref.pop(".childguard-apply.json")
    assert got == ref
