"""Helpers of the vision tests: drawn pictures and scikit-image's astronaut (public domain, an adult) only.

Tests that run the models skip, saying why, when the `vision` extra is not installed."""

from __future__ import annotations

import importlib.util
import io
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

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


def drawn(i: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """A drawn picture with no face."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (i * 37 % 256, i * 91 % 256, 120))
    ImageDraw.Draw(img).rectangle([i % 10, 3, 50, 40], fill=(255, 255 - i % 200, 0))
    return encode(img)


BODY = b"\xff\xd8fake-jpeg-bytes"


class LocalWeb(BaseHTTPRequestHandler):
    """What the local test web server answers (and which paths and agents it saw)."""

    hits: ClassVar[dict[str, int]] = {}
    agents: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        """Answer one GET by path."""
        path = self.path
        type(self).hits[path] = type(self).hits.get(path, 0) + 1
        type(self).agents.append(self.headers.get("User-Agent", ""))
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path == "/ok.jpg":
            return self._send(200, BODY)
        if path == "/noai.jpg":
            return self._send(200, BODY, extra={"X-Robots-Tag": "noimageai, nofollow"})
        if path == "/big.jpg":
            return self._send(200, b"x" * 5000)
        if path == "/flaky.jpg":  # fails twice, then works: retried with back-off
            if type(self).hits[path] <= 2:
                return self._send(503, b"busy")
            return self._send(200, BODY)
        if path == "/down.jpg":
            return self._send(503, b"busy")
        return self._send(404, b"no")

    def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", extra=None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
