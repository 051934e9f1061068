"""The batched image stage: decode and per-image work in threads, models in batches of N.

Per image, in a worker thread: decode (Pillow), PDQ on the full-size picture (the same hash
as `childguard.images.hashing`, so it matches PDQ takedown lists), downscale to `max_side`,
detect faces, align the face chips and prepare the open_nsfw input. Then, per chunk of
`batch_size` images, one age-network call over every face chip and one open_nsfw call over
every picture, on CUDA when onnxruntime has it, else on CPU: the same code path either way.
A picture that cannot be decoded gets `error` set and no scores: never a clean result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from childguard.vision import age as age_mod
from childguard.vision import faces as faces_mod
from childguard.vision import unsafe as unsafe_mod


@dataclass(frozen=True)
class PictureResult:
    """What the stage found in one picture (all None but `error` when it could not check)."""

    faces: int | None = None
    aged_faces: int | None = None  # faces large enough to read an age from
    age: float | None = None  # the youngest aged face's expected apparent age
    age_confidence: float | None = None  # that face's top age-class probability
    p_minor: float | None = None  # max over aged faces of P(apparent age < 18)
    unsafe: float | None = None  # open_nsfw P(unsafe) of the whole picture
    pdq: str | None = None  # hex, ThreatExchange bit order
    pdq_quality: int | None = None
    error: str | None = None


@dataclass
class _Prepared:
    pdq: str
    quality: int
    faces: int
    chips: list[np.ndarray] = field(default_factory=list)
    nsfw_input: np.ndarray | None = None


@dataclass(frozen=True)
class StageConfig:
    """Batch size, threads, device and the face filters of one stage."""

    batch_size: int = 64
    threads: int = 0  # 0: one per core
    device: str = "auto"  # auto | cpu | cuda
    min_face_confidence: float = 0.5
    min_face_px: int = 24  # smaller faces are counted, not aged (their age is noise)
    max_side: int = 1024  # pictures are downscaled to this for the models (not for PDQ)


def model_versions() -> str:
    """Every model the stage runs, with the package release that ships it."""
    return ";".join(
        (faces_mod.model_version(), age_mod.model_version(), unsafe_mod.model_version())
    )


class ImageStage:
    """Faces, apparent age, unsafe score and PDQ for batches of encoded pictures."""

    def __init__(self, config: StageConfig | None = None) -> None:
        self.config = c = config or StageConfig()
        self.threads = c.threads or max(1, os.cpu_count() or 1)
        self.faces = faces_mod.FaceDetector(c.min_face_confidence)
        self.ages = age_mod.AgeEstimator(c.device, c.batch_size)
        self.unsafe = unsafe_mod.UnsafeScorer(c.device, c.batch_size)
        self.versions = model_versions()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="cg-image")

    def close(self) -> None:
        """Stop the worker threads and release the face graphs."""
        self._pool.shutdown(wait=True)
        self.faces.close()

    def run(self, blobs: list[bytes | BaseException]) -> list[PictureResult]:
        """One result per input: encoded bytes, or the exception that kept them from us."""
        out: list[PictureResult] = []
        n = self.config.batch_size
        for start in range(0, len(blobs), n):
            out += self._run_chunk(blobs[start : start + n])
        return out

    # per image (worker threads) --------------------------------------------------------------
    def _prepare(self, blob: bytes | BaseException) -> _Prepared | str:
        from childguard.images.hashing import ImageError, decode_rgb, pdq_of_rgb

        if isinstance(blob, BaseException):
            return str(blob) or type(blob).__name__
        try:
            rgb = decode_rgb(blob)
        except ImageError as e:
            return f"image undecodable ({e})"
        try:
            pdq, quality = pdq_of_rgb(rgb)
            rgb = _downscale(rgb, self.config.max_side)
            found = self.faces.detect(rgb)
            big = [f.box for f in found if f.size >= self.config.min_face_px]
            return _Prepared(
                pdq.hex(), quality, len(found), self.ages.chips(rgb, big), self.unsafe.prepare(rgb)
            )
        except Exception as e:  # a model failing on one picture fails that row, not the scan
            return f"image check failed ({type(e).__name__})"

    def _run_chunk(self, blobs: list[bytes | BaseException]) -> list[PictureResult]:
        prepared = list(self._pool.map(self._prepare, blobs))
        ok = [p for p in prepared if isinstance(p, _Prepared)]
        chips = [c for p in ok for c in p.chips]
        ages = self.ages.results(self.ages.probabilities(chips))
        unsafe = self.unsafe.scores([p.nsfw_input for p in ok])  # type: ignore[misc]
        out, a, u = [], 0, 0
        for p in prepared:
            if isinstance(p, str):
                out.append(PictureResult(error=p))
                continue
            mine = ages[a : a + len(p.chips)]
            a += len(p.chips)
            youngest = min(mine, key=lambda r: r.age) if mine else None
            out.append(
                PictureResult(
                    faces=p.faces,
                    aged_faces=len(mine),
                    age=youngest.age if youngest else None,
                    age_confidence=youngest.confidence if youngest else None,
                    p_minor=max(r.p_minor for r in mine) if mine else 0.0,
                    unsafe=float(unsafe[u]),
                    pdq=p.pdq,
                    pdq_quality=p.quality,
                )
            )
            u += 1
        return out


def _downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    from PIL import Image

    scale = max_side / max(h, w)
    im = Image.fromarray(rgb).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
    )
    return np.asarray(im)
