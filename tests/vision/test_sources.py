"""Where a row's picture comes from: beside the shard, other sources by key or URL, --fetch."""

from __future__ import annotations

import pytest

from childguard.images.tar import iter_samples
from childguard.urls import url_sha256
from childguard.vision.fetch import FetchConfig, Fetcher, FetchError
from childguard.vision.sources import ImageResolver, MissingImage
from release.helpers import img2dataset_shard

from vision_helpers import BODY

URLS = [f"https://cdn.example.org/img/{i}.jpg" for i in range(8)]
CAPS = [f"a red car number {i}" for i in range(8)]


@pytest.mark.parametrize("fmt", ["webdataset", "files"])
def test_beside_the_shard_by_key(tmp_path, fmt) -> None:
    img2dataset_shard(tmp_path, 0, URLS, CAPS, fmt=fmt)  # every 4th failed to download
    keys = [f"00000{i:04d}" for i in range(8)]
    out = ImageResolver().blobs(str(tmp_path / "00000.parquet"), keys, URLS)
    for i, blob in enumerate(out):
        if i % 4 == 3:
            assert isinstance(blob, MissingImage) and "--fetch not given" in str(blob)
        else:
            assert isinstance(blob, bytes) and blob[:2] == b"\xff\xd8"


def test_other_img2dataset_output_matched_by_url(tmp_path) -> None:
    img2dataset_shard(tmp_path / "imgs", 0, URLS, CAPS)
    tar_bytes = {s.key: s.files["jpg"] for s in iter_samples(str(tmp_path / "imgs/00000.tar"))}
    # the metadata is LAION's own parquet elsewhere: no key, URLs in another order
    urls = [*reversed(URLS), "https://elsewhere.example.org/x.jpg"]
    out = ImageResolver([str(tmp_path / "imgs")]).blobs(None, [None] * len(urls), urls)
    for u, blob in zip(urls, out, strict=True):
        i = URLS.index(u) if u in URLS else None
        if i is None or i % 4 == 3:
            assert isinstance(blob, MissingImage)
        else:
            assert blob == tar_bytes[f"00000{i:04d}"]


def test_plain_folder_by_key_or_url_digest(tmp_path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "k1.png").write_bytes(b"by-key")
    (folder / f"{url_sha256(URLS[2])}.jpg").write_bytes(b"by-url")
    out = ImageResolver([str(folder)]).blobs(None, ["k1", None, None], [URLS[0], URLS[2], URLS[3]])
    assert out[0] == b"by-key" and out[1] == b"by-url" and isinstance(out[2], MissingImage)


def test_missing_source_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="image source not found"):
        ImageResolver([str(tmp_path / "nope")]).blobs(None, ["a"], [URLS[0]])


def test_fetch_fills_what_no_source_has(tmp_path, server) -> None:
    img2dataset_shard(tmp_path, 0, URLS[:4], CAPS[:4])
    fetcher = Fetcher(FetchConfig(per_host_interval_s=0.0, backoff_s=0.01, retries=0))
    urls = [*URLS[:3], f"{server}/ok.jpg", f"{server}/noai.jpg", None]
    keys = ["000000000", "000000001", "000000002", "000000003", None, None]
    out = ImageResolver(fetcher=fetcher).blobs(str(tmp_path / "00000.parquet"), keys, urls)
    assert all(isinstance(b, bytes) for b in out[:3])
    assert out[3] == BODY  # its download had failed: fetched now
    assert isinstance(out[4], FetchError) and "X-Robots-Tag" in str(out[4])
    assert isinstance(out[5], MissingImage)
