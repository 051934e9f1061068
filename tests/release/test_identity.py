"""A release's published identity (issue 11, item 6): coordinated edits that keep a release
self-consistent pass `verify` alone; they fail against the published manifest.json digest and
against the maintainer's Ed25519 signature. `apply` refuses a manifest it cannot validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.io.paths import file_sha256
from childguard.release.apply import ApplyError, load_manifest
from childguard.release.build import build_release
from childguard.release.identity import (
    IdentityError,
    check_identity,
    generate_key,
    manifest_digest,
    sign_release,
)
from childguard.release.verify import verify_release
from release.helpers import decisions_frame


@pytest.fixture
def release(audit, tmp_path: Path) -> Path:
    a, _ = audit
    build_release(a, tmp_path / "rel", release_id="r1", decisions=decisions_frame([]))
    return tmp_path / "rel"


def _drop_entries_consistently(rel: Path) -> None:
    """What a careful forger does: fewer manifest entries, manifest.json updated to match."""
    mp = rel / "manifest.parquet"
    t = pq.read_table(mp)
    pq.write_table(t.slice(0, t.num_rows - 2), mp)
    meta = json.loads((rel / "manifest.json").read_text())
    meta["files"]["manifest.parquet"].update(
        sha256=file_sha256(mp), size=mp.stat().st_size, rows=t.num_rows - 2
    )
    meta["counts"]["manifest_entries"] = t.num_rows - 2
    (rel / "manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def test_published_digest_and_signature_catch_coordinated_edits(release: Path, tmp_path):
    key, pub = generate_key(tmp_path / "maintainer.key")
    assert (key.stat().st_mode & 0o777) == 0o600
    sign_release(release, key)
    digest = manifest_digest(release)
    check_identity(release, digest, pub)  # the genuine release

    forged = tmp_path / "forged"
    shutil.copytree(release, forged)
    _drop_entries_consistently(forged)
    assert verify_release(forged).ok  # self-consistent: verify alone cannot tell
    with pytest.raises(IdentityError, match="not the published"):
        check_identity(forged, digest, None)
    with pytest.raises(IdentityError, match="signature does not match"):
        check_identity(forged, None, pub)
    with pytest.raises(ApplyError, match="signature does not match"):
        load_manifest(forged, public_key=pub)

    _, other_pub = generate_key(tmp_path / "someone-else.key")
    with pytest.raises(IdentityError, match="signature does not match"):
        check_identity(release, None, other_pub)
    (release / "manifest.json.sig").unlink()
    with pytest.raises(IdentityError, match="not signed"):
        check_identity(release, None, pub)
    with pytest.raises(IdentityError, match="never overwritten"):
        generate_key(key)


def test_extra_files_anywhere_in_a_release_fail_verify(release: Path) -> None:
    (release / "notes.txt").write_text("not part of the release")
    rep = verify_release(release)
    assert any("notes.txt" in p and "not listed" in p for p in rep.problems)


@pytest.mark.parametrize("bad", ["int64", "all-null", "not-hex"])
def test_apply_refuses_a_manifest_it_cannot_validate(release: Path, bad: str) -> None:
    mp = release / "manifest.parquet"
    t = pq.read_table(mp)
    n = t.num_rows
    if bad == "int64":
        col = pa.array(range(n), pa.int64())
    elif bad == "all-null":
        col = pa.nulls(n, pa.string())
        t = t.set_column(
            t.schema.get_field_index("laion_hash"), "laion_hash", pa.nulls(n, pa.int64())
        )
    else:
        col = pa.array(["XYZ"] * n, pa.string())
    t = t.set_column(t.schema.get_field_index("url_sha256"), "url_sha256", col)
    pq.write_table(t, mp)
    with pytest.raises(ApplyError):
        load_manifest(release)


def test_cli_release_prints_the_digest_and_signs(audit, tmp_path: Path) -> None:
    a, _ = audit
    run = CliRunner()
    res = run.invoke(app, ["keygen", str(tmp_path / "k")])
    assert res.exit_code == 0, res.output
    res = run.invoke(
        app,
        ["release", str(a), "--out", str(tmp_path / "rel"), "--sign-key", str(tmp_path / "k")],
    )
    assert res.exit_code == 0, res.output
    digest = manifest_digest(tmp_path / "rel")
    assert digest in res.output
    ok = run.invoke(
        app,
        [
            "verify",
            str(tmp_path / "rel"),
            "--expect",
            digest,
            "--public-key",
            str(tmp_path / "k.pub"),
        ],
    )
    assert ok.exit_code == 0 and "identity checked" in ok.output
    wrong = run.invoke(app, ["verify", str(tmp_path / "rel"), "--expect", "0" * 64])
    assert wrong.exit_code == 1 and "not the published" in " ".join(wrong.output.split())
    dry = run.invoke(app, ["apply", str(tmp_path / "rel"), str(tmp_path), "--expect", "0" * 64])
    assert dry.exit_code == 1


def test_release_refuses_a_source_shard_edited_in_place_since_the_scan(audit, dataset, tmp_path):
    """A same-size edit (one caption letter) is caught by the SHA-256 the scan recorded."""
    a, _ = audit
    p = dataset / "c.csv"
    data = bytearray(p.read_bytes())
    i = data.rindex(b"a")
    data[i : i + 1] = b"b"
    p.write_bytes(bytes(data))
    from childguard.release.build import ReleaseError

    with pytest.raises(ReleaseError, match="content changed since the scan"):
        build_release(a, tmp_path / "rel2", release_id="r2", decisions=decisions_frame([]))
