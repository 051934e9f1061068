"""`childguard clip-prompts`: compute and cache the CLIP text embeddings of the prompt set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from childguard.vision.clip_defaults import DEFAULT_MODEL, DEFAULT_PRETRAINED


def clip_prompts_cmd(
    model: Annotated[
        str, typer.Option(help="open_clip model name (LAION-5B's img_emb: ViT-L-14).")
    ] = DEFAULT_MODEL,
    pretrained: Annotated[
        str,
        typer.Option(help="open_clip weights (LAION-5B's img_emb were made with `openai`)."),
    ] = DEFAULT_PRETRAINED,
    out: Annotated[
        Path | None,
        typer.Option(help="File to write (default: the cache `scan` reads, under $CHILDGUARD_HOME)."),
    ] = None,
    device: Annotated[str, typer.Option(help="torch device (cpu, cuda).")] = "cpu",
) -> None:
    """Compute the "a minor is shown" prompt embeddings with open_clip (needs the internet once)."""
    # imported here: `childguard.cli` imports this module for every command
    from rich.console import Console

    from childguard.vision.clip import ClipError, load_scorer
    from childguard.vision.prompts import default_prompt_file, load_open_clip, write_prompt_file

    err = Console(stderr=True)
    target = out or default_prompt_file(model, pretrained)
    try:
        clip_model, tokenizer = load_open_clip(model, pretrained, device)
        write_prompt_file(target, clip_model, tokenizer, model_name=model, pretrained=pretrained)
        scorer = load_scorer(target)
    except ClipError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    print(
        f"wrote {target}: {len(scorer.classes)} classes x {scorer.dim}-d, {scorer.tag}, "
        f"sha256 {scorer.sha256[:16]}"
    )
