"""Picture-level checks: what the images (or their CLIP embeddings) show."""
