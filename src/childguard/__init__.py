"""childguard: find children's personal data in image-text datasets and take it out."""

__version__ = "0.1.0"
