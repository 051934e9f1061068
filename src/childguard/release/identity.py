"""A release's published identity: the SHA-256 of its manifest.json, and an Ed25519 signature.

`manifest.json` lists the size and SHA-256 of every other file of a release, so one digest of
manifest.json pins the whole release: a holder who checks `verify --expect DIGEST` (the digest
the maintainer published) or `--public-key PUB` (their signature key) catches coordinated edits
that a self-consistent manifest would pass (entries dropped from manifest.parquet with its hash
updated in manifest.json, a shard removed with its entry, a changed release_id).

Keys are Ed25519 through `cryptography`: the private key is PEM (PKCS#8), written with mode 0600
and never over an existing file; the public key is PEM beside it (`KEY.pub`). The signature is
`manifest.json.sig`: base64 of the 64-byte signature over manifest.json's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

SIG_NAME = "manifest.json.sig"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class IdentityError(ValueError):
    """A release whose digest or signature is not the one expected."""
    pass


def manifest_digest(release_dir: str | Path) -> str:
    """SHA-256 (hex) of the release's manifest.json bytes."""
    p = Path(release_dir) / "manifest.json"
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise IdentityError(f"{p}: missing (not a release)") from None


def check_digest(release_dir: str | Path, expect: str) -> None:
    """Raise IdentityError unless manifest.json's SHA-256 is `expect` (64 hex digits)."""
    want = expect.strip().lower()
    if not _HEX64.match(want):
        raise IdentityError(f"--expect {expect!r}: a SHA-256 is 64 hex digits")
    got = manifest_digest(release_dir)
    if got != want:
        raise IdentityError(
            f"{Path(release_dir) / 'manifest.json'}: SHA-256 {got} is not the published {want}"
        )


def generate_key(path: str | Path) -> tuple[Path, Path]:
    """A new Ed25519 key pair: PATH (private, 0600, never overwritten) and PATH.pub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    for p in (priv_path, pub_path):
        if p.exists():
            raise IdentityError(f"{p}: exists; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv_path, pub_path


def _load_private(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    mode = path.stat().st_mode & 0o077
    if mode:
        raise IdentityError(f"{path}: readable by others (mode {oct(mode)}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise IdentityError(f"{path}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path}: not an Ed25519 key")
    return key


def _load_public(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise IdentityError(f"{path}: no such public key file") from None
    except ValueError as e:
        raise IdentityError(f"{path}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise IdentityError(f"{path}: not an Ed25519 public key")
    return key


def sign_release(release_dir: str | Path, key_path: str | Path) -> Path:
    """Write manifest.json.sig for the release (atomically)."""
    root = Path(release_dir)
    key = _load_private(Path(key_path))
    sig = key.sign((root / "manifest.json").read_bytes())
    out = root / SIG_NAME
    tmp = out.with_name(f".{SIG_NAME}.tmp-{os.getpid()}")
    tmp.write_text(base64.b64encode(sig).decode() + "\n")
    os.replace(tmp, out)
    return out


def check_signature(release_dir: str | Path, pub_path: str | Path) -> None:
    """Raise IdentityError unless manifest.json.sig is a valid signature by this key."""
    from cryptography.exceptions import InvalidSignature

    root = Path(release_dir)
    key = _load_public(Path(pub_path))
    sig_path = root / SIG_NAME
    try:
        sig = base64.b64decode(sig_path.read_text().strip(), validate=True)
    except FileNotFoundError:
        raise IdentityError(f"{sig_path}: missing; the release is not signed") from None
    except ValueError:
        raise IdentityError(f"{sig_path}: not a base64 signature") from None
    try:
        key.verify(sig, (root / "manifest.json").read_bytes())
    except InvalidSignature:
        raise IdentityError(
            f"{root / 'manifest.json'}: the signature does not match this key (edited, or "
            "signed by someone else)"
        ) from None


def check_identity(
    release_dir: str | Path, expect: str | None = None, public_key: str | Path | None = None
) -> None:
    """Check the release's digest and/or signature, whichever is given."""
    if expect:
        check_digest(release_dir, expect)
    if public_key:
        check_signature(release_dir, public_key)
