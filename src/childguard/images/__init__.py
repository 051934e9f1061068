"""Image bytes beside the metadata (img2dataset tars and folders), file hashes and PDQ."""

from childguard.images.hashing import FILE_HASHES, ImageError, file_hashes, pdq_hash
from childguard.images.source import (
    IMAGE_EXTS,
    FolderImageSource,
    ImageSource,
    TarImageSource,
    find_image_source,
)
from childguard.images.tar import Sample, TarIndex, iter_samples, sample_key

__all__ = [
    "FILE_HASHES",
    "IMAGE_EXTS",
    "FolderImageSource",
    "ImageError",
    "ImageSource",
    "Sample",
    "TarImageSource",
    "TarIndex",
    "file_hashes",
    "find_image_source",
    "iter_samples",
    "pdq_hash",
    "sample_key",
]
