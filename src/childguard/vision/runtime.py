"""onnxruntime sessions on the best provider present: CUDA when installed and a GPU is there,
else CPU; the same code path either way (the outputs agree within float tolerance)."""

from __future__ import annotations

import onnxruntime as ort

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def providers(device: str = "auto") -> list[str]:
    """Execution providers for `device` (`auto`, `cpu` or `cuda`), best first."""
    available = ort.get_available_providers()
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cuda" and CUDA not in available:
        raise ValueError("device cuda asked for, but onnxruntime has no CUDA provider here")
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def session(model: bytes | str, device: str = "auto", threads: int = 1) -> ort.InferenceSession:
    """An inference session for a model (bytes or path) on `device`'s providers."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings about unused providers are noise in a scan log
    return ort.InferenceSession(model, sess_options=opts, providers=providers(device))


def run_batches(sess: ort.InferenceSession, inputs, batch_size: int):
    """Run a one-input, one-output session over `inputs` in batches of `batch_size` rows."""
    import numpy as np

    name = sess.get_inputs()[0].name
    if len(inputs) == 0:
        shape = sess.get_outputs()[0].shape
        return np.zeros((0, shape[-1] if isinstance(shape[-1], int) else 1), np.float32)
    outs = [
        sess.run(None, {name: inputs[i : i + batch_size]})[0]
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(outs, axis=0)
