"""Fixtures of the vision tests (helpers in vision_helpers.py)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from vision_helpers import MISSING, LocalWeb, encode


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """scikit-image's astronaut (Eileen Collins, NASA, public domain): one adult face."""
    skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) not installed")
    from PIL import Image

    return encode(Image.fromarray(skdata.astronaut()))


@pytest.fixture(scope="session")
def stage():
    """One image stage for the session (the models load once)."""
    if MISSING:
        pytest.skip(f"the vision extra is not installed (missing {', '.join(MISSING)})")
    from childguard.vision.stage import ImageStage, StageConfig

    st = ImageStage(StageConfig(batch_size=4, threads=2, device="cpu"))
    yield st
    st.close()


@pytest.fixture
def server():
    """A local web server on 127.0.0.1 (robots.txt, pictures, opt-outs, failures)."""
    LocalWeb.hits, LocalWeb.agents = {}, []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), LocalWeb)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
