"""The CLIP model `clip-prompts` and `scan` default to (importable without numpy: the CLI's
option defaults read them at start-up)."""

DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"  # what LAION-5B's img_emb were computed with
