"""The zero-shot prompt set for "a minor is shown", and computing its CLIP text embeddings.

`compute_class_embeddings` takes any CLIP-shaped pair: `tokenizer(list[str])` and
`model.encode_text(tokens)` returning one vector per text (open_clip's interface; tests pass a
small numpy model with the same two calls). `load_open_clip` builds the real one: it needs
`open_clip_torch` and a CPU torch, and downloads the weights once, so it runs where there is
internet; the result is cached in a small `.npz` (`childguard clip-prompts`) that scans read
offline.

The model must be the one that made the image embeddings: LAION-5B's `img_emb` files were
computed with OpenAI's CLIP ViT-L/14 (`--model ViT-L-14 --pretrained openai`). LAION's own
ViT-L/14 weights (`laion2b_s32b_b82k`) share the shape (768-d) but not the space: their text
vectors against OpenAI image vectors give noise, and no check can tell from the numbers.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from childguard.vision.clip import ClipError, save_prompts
from childguard.vision.clip_defaults import DEFAULT_MODEL, DEFAULT_PRETRAINED

PROMPT_SET_VERSION = "cg-minor-1"

# CLIP's prompt-ensembling: each class is the mean of these templates' embeddings
TEMPLATES: tuple[str, ...] = (
    "a photo of {}.",
    "a close-up photo of {}.",
    "a cropped photo of {}.",
    "a blurry photo of {}.",
    "a low resolution photo of {}.",
    "a family photo of {}.",
    "a snapshot of {}.",
)
MINOR_CLASSES: tuple[str, ...] = (
    "a baby",
    "a newborn baby",
    "a toddler",
    "a child",
    "a little girl",
    "a little boy",
    "a young girl",
    "a young boy",
    "a schoolchild",
    "a group of children",
    "a teenage girl",
    "a teenage boy",
)
# adults, and what most web pictures show instead of people: without these a photo of a chair
# would be split between "a child" and "an adult"
OTHER_CLASSES: tuple[str, ...] = (
    "an adult",
    "a man",
    "a woman",
    "an elderly person",
    "a group of adults",
    "a couple",
    "a bride and groom",
    "an athlete",
    "a doll",
    "a cartoon character",
    "an animal",
    "a pet",
    "a landscape",
    "a building",
    "a room interior",
    "food",
    "a product",
    "clothing",
    "a car",
    "text or a logo",
    "a drawing or painting",
)


def _no_grad():
    """torch's no_grad when torch is the backend, else nothing (numpy test models)."""
    try:
        import torch
    except ImportError:
        return contextlib.nullcontext()
    return torch.no_grad()


def _to_numpy(x: object) -> np.ndarray:
    """A torch tensor (any device) or array-like as a float32 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(x, dtype=np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if not np.all(n > 0):
        raise ClipError("the text encoder returned an all-zero embedding")
    return x / n


def compute_class_embeddings(
    model: object,
    tokenizer: object,
    *,
    templates: tuple[str, ...] = TEMPLATES,
    minor_classes: tuple[str, ...] = MINOR_CLASSES,
    other_classes: tuple[str, ...] = OTHER_CLASSES,
    batch_size: int = 64,
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """(class embeddings (k, d), class names, is-minor mask, every prompt) for a CLIP model."""
    classes = [*minor_classes, *other_classes]
    prompts = [t.format(c) for c in classes for t in templates]
    parts = []
    with _no_grad():
        for lo in range(0, len(prompts), batch_size):
            tokens = tokenizer(prompts[lo : lo + batch_size])  # type: ignore[operator]
            parts.append(_to_numpy(model.encode_text(tokens)))  # type: ignore[attr-defined]
    emb = _normalise(np.concatenate(parts))
    if emb.ndim != 2 or emb.shape[0] != len(prompts):
        raise ClipError(f"encode_text gave shape {emb.shape} for {len(prompts)} prompts")
    per_class = emb.reshape(len(classes), len(templates), -1).mean(axis=1)
    minor = np.array([c in minor_classes for c in classes])
    return _normalise(per_class).astype(np.float32), classes, minor, prompts


def logit_scale_of(model: object, default: float = 100.0) -> float:
    """CLIP's learnt softmax temperature (`exp(model.logit_scale)`), else `default`."""
    raw = getattr(model, "logit_scale", None)
    if raw is None:
        return default
    return float(np.exp(_to_numpy(raw).reshape(-1)[0]))


OPEN_CLIP_HINT = (
    "computing CLIP prompt embeddings needs open_clip and a CPU build of torch, which are not "
    "installed: pip install torch --index-url https://download.pytorch.org/whl/cpu && "
    "pip install open_clip_torch (this also downloads the model's weights once, so it needs "
    "the internet; the scan itself then runs offline from the file it writes)"
)


def load_open_clip(model_name: str, pretrained: str, device: str = "cpu") -> tuple[object, object]:
    """(model, tokenizer) from open_clip; ClipError with the install line when it is missing."""
    try:
        import open_clip
    except ImportError as e:
        raise ClipError(f"{OPEN_CLIP_HINT} ({e})") from None
    model, _, _ = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)

    def tokenize(texts: list[str]) -> object:
        tokens = tokenizer(texts)
        return tokens.to(device) if hasattr(tokens, "to") else tokens

    return model, tokenize


def write_prompt_file(
    out: str | Path, model: object, tokenizer: object, *, model_name: str, pretrained: str
) -> Path:
    """Compute the prompt set's class embeddings with `model` and write them to `out`."""
    emb, classes, minor, prompts = compute_class_embeddings(model, tokenizer)
    save_prompts(
        out,
        embeddings=emb,
        classes=classes,
        minor=minor,
        model=model_name,
        pretrained=pretrained,
        version=PROMPT_SET_VERSION,
        logit_scale=logit_scale_of(model),
        prompts=prompts,
    )
    return Path(out)


def default_prompt_file(
    model_name: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED
) -> Path:
    """Where `clip-prompts` caches a model's prompt file: `$CHILDGUARD_HOME/clip/...npz`."""
    from childguard.lists.store import default_home

    safe = f"{model_name}__{pretrained}__{PROMPT_SET_VERSION}".replace("/", "-")
    return default_home() / "clip" / f"{safe}.npz"
