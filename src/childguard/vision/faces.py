"""Face detection with MediaPipe's BlazeFace full-range model (`model_selection=1`).

Full range (faces up to ~5 m from the camera) rather than the short-range selfie model, as
dataset pictures are group and street photos more often than selfies. It finds frontal and
three-quarter faces well down to ~20 px; it misses profiles, heavily occluded and very small
faces, and drawn faces sometimes fire. MediaPipe graphs are not thread-safe: one per thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

MODEL = "blazeface-full-range"


@dataclass(frozen=True)
class Face:
    """One detected face: a pixel box (left, top, right, bottom; inclusive) and its score."""

    box: tuple[int, int, int, int]
    score: float

    @property
    def size(self) -> int:
        """The box's shorter side in pixels."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1]) + 1


def model_version() -> str:
    """The detector and the MediaPipe release that ships its weights."""
    import mediapipe

    return f"{MODEL}@mediapipe-{mediapipe.__version__}"


class FaceDetector:
    """BlazeFace full range, one MediaPipe graph per calling thread."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        from mediapipe.python.solutions import face_detection  # the legacy solutions API

        self._module = face_detection
        self.min_confidence = min_confidence
        self._local = threading.local()
        self._all: list[object] = []
        self._lock = threading.Lock()

    def _graph(self):
        g = getattr(self._local, "graph", None)
        if g is None:
            g = self._module.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence
            )
            self._local.graph = g
            with self._lock:
                self._all.append(g)
        return g

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an [H, W, 3] uint8 RGB image, best first."""
        h, w = rgb.shape[:2]
        result = self._graph().process(np.ascontiguousarray(rgb))
        faces = []
        for d in result.detections or []:
            bb = d.location_data.relative_bounding_box
            left = max(0, round(bb.xmin * w))
            top = max(0, round(bb.ymin * h))
            right = min(w - 1, round((bb.xmin + bb.width) * w))
            bottom = min(h - 1, round((bb.ymin + bb.height) * h))
            if right > left and bottom > top:
                faces.append(Face((left, top, right, bottom), float(d.score[0])))
        return sorted(faces, key=lambda f: -f.score)

    def close(self) -> None:
        """Release every thread's graph."""
        with self._lock:
            for g in self._all:
                g.close()  # type: ignore[attr-defined]
            self._all.clear()
        self._local = threading.local()
