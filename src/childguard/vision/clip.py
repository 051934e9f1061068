"""P(a minor is shown) from CLIP image embeddings: one matrix product per batch.

Two scorers share one small `.npz` file format (written by `childguard clip-prompts` or
`save_probe`, read by `load_scorer`):

- `prompts`: zero-shot CLIP. Each class ("a toddler", "a woman", "a landscape", ...) is the
  normalised mean of its prompts' text embeddings; a picture's class probabilities are the
  softmax of `logit_scale * cosine(picture, class)`, and P(minor) is the sum over the minor
  classes. No training data is needed, but the probabilities are not calibrated.
- `probe`: a linear probe on normalised image embeddings, `sigmoid(x . w + b)`, trained on
  the user's labelled embeddings by `childguard clip-probe train` (Platt calibration folded
  into `w` and `b`, so it is calibrated as far as its training data was). Its optional `meta`
  entry (JSON: row counts, cross-validated figures, recommended threshold) is read by
  `probe_meta` and ignored by `load_scorer`, so files with and without it read alike.

Either way the file records the CLIP model and weights it belongs to (`ViT-L-14`/`openai` for
LAION-5B's `img_emb`) and a version, which every finding it decides carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from childguard.io.atomic import atomic_write

FORMAT = 1
CHUNK_ROWS = 8192  # rows converted to float32 at a time: ~25 MB for 768-d vectors


class ClipError(ValueError):
    """A CLIP prompt/probe file that cannot be read or used, or open_clip missing."""


@dataclass(frozen=True)
class MinorScorer:
    """A loaded prompt set or linear probe: scores normalised image embeddings in batches."""

    kind: str  # "prompts" | "probe"
    model: str  # open_clip model name, e.g. ViT-L-14
    pretrained: str  # open_clip weights tag, e.g. openai
    version: str  # prompt-set or probe version
    sha256: str  # of the file it was loaded from ("" when built in memory)
    matrix: np.ndarray  # (k, d) class embeddings, or (1, d) probe weights; float32
    minor: np.ndarray  # (k,) bool: which classes are minors (probe: [True])
    bias: float = 0.0  # probe only
    logit_scale: float = 100.0  # prompts only: CLIP's learnt temperature
    classes: tuple[str, ...] = ()

    @property
    def dim(self) -> int:
        """Embedding dimension the scorer expects."""
        return int(self.matrix.shape[1])

    @property
    def tag(self) -> str:
        """`model/pretrained/kind-version`: what a decision records as the detector version."""
        return f"{self.model}/{self.pretrained}/{self.kind}-{self.version}"

    def minor_probability(self, emb: np.ndarray) -> np.ndarray:
        """P(minor) per row of `emb` (n, d), float64; NaN where a row is all zeros (no picture)."""
        n = emb.shape[0]
        out = np.empty(n, np.float64)
        mt = self.matrix.T  # (d, k)
        for lo in range(0, n, CHUNK_ROWS):
            x = np.asarray(emb[lo : lo + CHUNK_ROWS], dtype=np.float32)
            norm = np.sqrt(np.einsum("ij,ij->i", x, x))
            ok = norm > 0
            # cosines: the product first, then divide the (rows x k) result, not the vectors
            logits = (x @ mt) / np.where(ok, norm, 1.0)[:, None]
            if self.kind == "probe":
                p = 1.0 / (1.0 + np.exp(-(logits[:, 0].astype(np.float64) + self.bias)))
            else:
                z = logits * np.float32(self.logit_scale)
                z -= z.max(axis=1, keepdims=True)
                e = np.exp(z, dtype=np.float64)
                p = e[:, self.minor].sum(axis=1) / e.sum(axis=1)
            out[lo : lo + x.shape[0]] = np.where(ok, p, np.nan)
        return out


def _str(z, key: str, path: Path) -> str:
    if key not in z.files:
        raise ClipError(f"{path}: not a childguard CLIP file (no {key!r})")
    return str(z[key])


def load_scorer(path: str | Path) -> MinorScorer:
    """Read a prompt or probe `.npz` file, with an error naming the file and what is wrong."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ClipError(f"cannot read CLIP prompt/probe file {path}: {e.strerror}") from None
    import io
    import zipfile

    try:
        z = np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ClipError(f"{path}: not an .npz file ({e})") from None
    with z:
        kind = _str(z, "kind", path)
        fmt = int(z["format"]) if "format" in z.files else 0
        if fmt != FORMAT:
            raise ClipError(f"{path}: format {fmt}, this childguard reads format {FORMAT}")
        meta = {k: _str(z, k, path) for k in ("model", "pretrained", "version")}
        sha = hashlib.sha256(blob).hexdigest()
        if kind == "prompts":
            m = np.asarray(z["embeddings"], np.float32)
            minor = np.asarray(z["minor"], bool)
            classes = tuple(str(c) for c in z["classes"])
            if m.ndim != 2 or minor.shape != (m.shape[0],) or len(classes) != m.shape[0]:
                raise ClipError(
                    f"{path}: embeddings {m.shape}, minor {minor.shape} and "
                    f"{len(classes)} classes do not agree"
                )
            if not minor.any() or minor.all():
                raise ClipError(f"{path}: needs both minor and other classes")
            m = m / np.linalg.norm(m, axis=1, keepdims=True)
            scale = float(z["logit_scale"])
            return MinorScorer(kind, **meta, sha256=sha, matrix=m, minor=minor,
                               logit_scale=scale, classes=classes)  # fmt: skip
        if kind == "probe":
            w = np.asarray(z["weights"], np.float32).reshape(1, -1)
            return MinorScorer(kind, **meta, sha256=sha, matrix=w, minor=np.array([True]),
                               bias=float(z["bias"]))  # fmt: skip
        raise ClipError(f"{path}: unknown kind {kind!r} (prompts or probe)")


def _save(path: str | Path, **arrays: object) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, format=np.int64(FORMAT), **arrays)  # type: ignore[arg-type]


def save_prompts(
    path: str | Path,
    *,
    embeddings: np.ndarray,
    classes: list[str],
    minor: list[bool] | np.ndarray,
    model: str,
    pretrained: str,
    version: str,
    logit_scale: float = 100.0,
    prompts: list[str] | None = None,
) -> None:
    """Write a zero-shot prompt file (class embeddings, which are minors, model, version)."""
    _save(
        path,
        kind=np.str_("prompts"),
        model=np.str_(model),
        pretrained=np.str_(pretrained),
        version=np.str_(version),
        embeddings=np.asarray(embeddings, np.float32),
        classes=np.array(classes, dtype=str),
        minor=np.asarray(minor, bool),
        logit_scale=np.float64(logit_scale),
        prompts=np.array(prompts or [], dtype=str),
    )


def save_probe(
    path: str | Path,
    *,
    weights: np.ndarray,
    bias: float,
    model: str,
    pretrained: str,
    version: str,
    meta: dict | None = None,
) -> None:
    """Write a linear-probe file: P(minor) = sigmoid(normalised embedding . weights + bias),
    with `meta` (JSON-serialisable: how it was trained and how well it did) when given."""
    extra = {} if meta is None else {"meta": np.str_(json.dumps(meta, sort_keys=True))}
    _save(
        path,
        kind=np.str_("probe"),
        model=np.str_(model),
        pretrained=np.str_(pretrained),
        version=np.str_(version),
        weights=np.asarray(weights, np.float32).reshape(-1),
        bias=np.float64(bias),
        **extra,
    )


def probe_meta(path: str | Path) -> dict:
    """The training record of a probe file ({} for a file written without one)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"])) if "meta" in z.files else {}
    except (OSError, ValueError) as e:
        raise ClipError(f"{path}: cannot read the probe's training record ({e})") from None
