"""Before/after check: findings, releases and manifests byte-identical between two revisions.

Exports `src/` of a git revision (default `main`) into a temp folder, runs the same pipeline
with it and with this checkout's `src/` (each in its own subprocess): `scan` (with
`--workers 1` and `--workers 2`), `release`, then `apply --out` on the bundled sample and on a
generated corpus (bench/corpus.py), and compares the SHA-256 of every output file.

Parquet outputs, release data and apply outputs must be byte-identical. JSON records are
compared as parsed JSON without their clocks (`seconds`, `created`) and without keys only
one side has (new format fields such as `format_version` are listed, not failed).

    python bench/identical.py [--before main] [--rows 200000] [--shards 4] [--extra FILE ...]

`--extra` adds inputs of your own (the real pool: `--extra ../shared/data/real_pool.parquet`),
each compared as one more case named by its file stem.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import write_corpus

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "src" / "childguard" / "demo" / "data"
CLOCKS = {"seconds", "created"}


def _export(rev: str, dest: Path) -> Path:
    """`src/` of git revision `rev`, unpacked under `dest`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def _cg(src: Path, home: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(src), "CHILDGUARD_HOME": str(home)}
    code = "import sys; from childguard.cli import main; sys.argv[0] = 'childguard'; main()"
    r = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True
    )
    if r.returncode != 0:
        raise SystemExit(f"childguard {' '.join(args)} failed ({src}):\n{r.stderr[-3000:]}")


def _pipeline(src: Path, inputs: list[Path], work: Path, home: Path) -> None:
    for w in ("1", "2"):
        _cg(src, home, "scan", *map(str, inputs), "--out", str(work / f"audit-w{w}"),
            "--workers", w, "--no-progress")
    _cg(src, home, "release", str(work / "audit-w1"), "--out", str(work / "rel"), "--id", "r1")
    _cg(src, home, "apply", str(work / "rel"), *map(str, inputs), "--out", str(work / "applied"))


def _strip(doc: object, root: str) -> object:
    """`doc` without clocks, the run's own folder written as `<work>`."""
    if isinstance(doc, dict):
        return {k: _strip(v, root) for k, v in doc.items() if k not in CLOCKS}
    if isinstance(doc, list):
        return [_strip(v, root) for v in doc]
    return doc.replace(root, "<work>") if isinstance(doc, str) else doc


def _common(a: object, b: object, path: str, added: set[str]) -> tuple[object, object]:
    """a and b restricted to the keys both have; the others are noted in `added`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() ^ b.keys():
            added.add(f"{path}.{k}")
        pairs = {k: _common(a[k], b[k], f"{path}.{k}", added) for k in a.keys() & b.keys()}
        return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = [_common(x, y, f"{path}[]", added) for x, y in zip(a, b, strict=True)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return a, b


_VOLATILE = ("registry.sqlite", ".childguard-apply.json")  # db pages, apply's own state


def _files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(_VOLATILE)
    }


def compare(before: Path, after: Path) -> tuple[list[str], set[str]]:
    """Differences between two output trees, and the JSON keys only one side has."""
    fa, fb = _files(before), _files(after)
    problems = [f"only in one run: {k}" for k in sorted(fa.keys() ^ fb.keys())]
    added: set[str] = set()
    for k in sorted(fa.keys() & fb.keys()):
        if k.endswith(".json"):
            a, b = _common(
                _strip(json.loads(fa[k].read_text()), str(before)),
                _strip(json.loads(fb[k].read_text()), str(after)),
                k,
                added,
            )
            if a != b:
                keys = sorted(x for x in a if a[x] != b.get(x)) if isinstance(a, dict) else []
                problems.append(f"{k}: JSON differs ({', '.join(keys)})")
        elif hashlib.sha256(fa[k].read_bytes()).digest() != hashlib.sha256(
            fb[k].read_bytes()
        ).digest():
            problems.append(f"{k}: bytes differ")
    return problems, {k.split("/")[-1] for k in added}


def main() -> int:
    """Run both revisions on the sample and a corpus; exit 1 on any difference."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="main", help="git revision to compare against")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--extra", nargs="*", default=[], help="more input files, one case each")
    a = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory(prefix="cg-identical-") as tmp:
        t = Path(tmp)
        (t / "before").mkdir()
        srcs = {"before": _export(a.before, t / "before"), "after": ROOT / "src"}
        sample = [p for p in sorted(SAMPLE.iterdir()) if p.is_file()]
        corpus = write_corpus(t / "corpus", a.rows, a.shards, row_group=25_000)
        cases = [("sample", sample), ("corpus", corpus)]
        cases += [(Path(x).stem, [Path(x).resolve()]) for x in a.extra]
        for name, inputs in cases:
            for side, src in srcs.items():
                _pipeline(src, inputs, t / side / name, t / "home")
            problems, added = compare(t / "before" / name, t / "after" / name)
            n = len(_files(t / "after" / name))
            print(f"{name}: {n} files, {len(problems)} difference(s)")
            if added:
                print(f"  new JSON fields (not compared): {', '.join(sorted(added))}")
            for p in problems:
                print(f"  {p}")
            bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
