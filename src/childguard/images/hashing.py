"""File hashes and PDQ perceptual hashes of image bytes."""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np

FILE_HASHES = ("md5", "sha1", "sha256")
# ThreatExchange's PDQ guidance: hashes of quality below 50 are too flat to match on.
MIN_PDQ_QUALITY = 50


class ImageError(ValueError):
    """The bytes are not an image Pillow can decode."""


def file_hashes(data: bytes) -> dict[str, bytes]:
    """The md5, sha1 and sha256 digests (raw bytes) of some bytes, by hash name."""
    return {name: hashlib.new(name, data).digest() for name in FILE_HASHES}


def decode_rgb(data: bytes) -> np.ndarray:
    """Encoded image bytes as an [H, W, 3] uint8 RGB array; raises ImageError (bombs included)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                rgb = np.asarray(im.convert("RGB"))
    except Exception as e:  # Pillow raises many types for bad bytes
        raise ImageError(type(e).__name__) from None
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise ImageError("empty image")
    return rgb


def pdq_of_rgb(rgb: np.ndarray) -> tuple[bytes, int]:
    """(32-byte PDQ hash, quality 0-100) of a decoded RGB array (see `pdq_hash`)."""
    import pdqhash

    bits, quality = pdqhash.compute(rgb)
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality)


def pdq_hash(data: bytes) -> tuple[bytes, int]:
    """(32-byte PDQ hash, quality 0-100) of encoded image bytes; raises ImageError.

    Bit order follows ThreatExchange's hex strings: the first hex digit holds bits 255..252."""
    return pdq_of_rgb(decode_rgb(data))
