"""Vision tests: drawn pictures and scikit-image's astronaut (public domain, an adult) only.

Tests that run the models skip, saying why, when the `vision` extra is not installed."""

from __future__ import annotations

import importlib.util
import io

import pytest

from childguard.vision import REQUIRES

MISSING = [m for m in REQUIRES if importlib.util.find_spec(m) is None]
needs_vision = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the vision extra is not installed (missing {', '.join(MISSING)}): "
    "pip install -e '.[dev,vision]'",
)


def encode(img, fmt: str = "JPEG") -> bytes:
    """A Pillow image as encoded bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """scikit-image's astronaut (Eileen Collins, NASA, public domain): one adult face."""
    skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) not installed")
    from PIL import Image

    return encode(Image.fromarray(skdata.astronaut()))


def drawn(i: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """A drawn picture with no face."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (i * 37 % 256, i * 91 % 256, 120))
    ImageDraw.Draw(img).rectangle([i % 10, 3, 50, 40], fill=(255, 255 - i % 200, 0))
    return encode(img)


@pytest.fixture(scope="session")
def stage():
    """One image stage for the session (the models load once)."""
    if MISSING:
        pytest.skip(f"the vision extra is not installed (missing {', '.join(MISSING)})")
    from childguard.vision.stage import ImageStage, StageConfig

    st = ImageStage(StageConfig(batch_size=4, threads=2, device="cpu"))
    yield st
    st.close()
