"""Turn the user's INPUT arguments (files, folders, globs, fsspec URLs) into shards.

A shard id is readable and stable: the file's stem plus 8 hex of the SHA-256 of its full
canonical path, so two `part-00000.parquet` in different folders never collide and the same
file always gets the same id.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# In folders, `.json` files are usually sidecars (img2dataset `_stats.json`), not data.
FOLDER_FORMATS = {k: v for k, v in FORMATS.items() if k != ".json"}
_GLOB = re.compile(r"[*?\[]")


class InputError(ValueError):
    """An input or output path the run cannot use (no shards, bad --out, ...)."""
    pass


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (local path or fsspec URL; read in 4 MiB blocks)."""
    h = hashlib.sha256()
    with fsspec.open(str(path), "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_out_dir(out: str | Path, flag: str = "--out") -> Path:
    """The output folder, checked before any work: not a file, not under a file, writable,
    not in a kernel filesystem. Returns its resolved path."""
    p = Path(out).expanduser().resolve()
    if p.parts[:2] in (("/", "proc"), ("/", "sys"), ("/", "dev")):
        raise InputError(f"{flag} {out}: /{p.parts[1]} is not a place to write an audit")
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {out} is a file; give a folder (it is created if missing)")
    anc = p
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise InputError(f"{flag} {out}: {anc} is a file, so the folder cannot be created")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {out}: {anc} is not writable")
    return p


class TruncatedError(OSError):
    """A compressed stream that ends before its last frame does (a cut file)."""


class _ZstdFrames(io.RawIOBase):
    """Decompress concatenated zstd frames; raise TruncatedError when the input ends inside
    a frame, instead of returning the rows decoded so far as if that were the whole file."""

    def __init__(self, raw) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dobj = self._new()
        self._in_frame = False  # bytes fed to the current frame, its end not seen yet
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._in_frame:
                    raise TruncatedError("zstd stream truncated (it ends inside a frame)")
                return 0
            self._feed(chunk)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            out.append(self._dobj.decompress(chunk))
            self._in_frame = not self._dobj.eof
            if not self._dobj.eof:
                break
            chunk = self._dobj.unused_data  # the next frame starts in this chunk
            self._dobj = self._new()
        self._buf = b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(frozen=True)
class Shard:
    """One input file: path or URL, format, compression, size and stable shard id."""
    path: str  # absolute local path, or a full fsspec URL (s3://..., hf://..., https://...)
    format: str | None  # parquet | csv | tsv | jsonl; None when unknown (the shard fails)
    compression: str | None
    size: int | None
    shard_id: str

    @property
    def is_local(self) -> bool:
        """True for a local path or `file://` URL."""
        return "://" not in self.path or self.path.startswith("file://")

    def open(self, mode: str = "rb"):  # -> binary file-like, decompressed
        """The shard opened for reading, decompressed (zstd frames checked to the end)."""
        if self.compression == "zstd":
            # fsspec's zstd file cannot readline(), and zstandard's stream_reader ends quietly
            # at a truncated frame (rows lost, scan "ok"): a reader that checks frame ends
            return io.BufferedReader(_ZstdFrames(self.open_raw()), 1 << 20)
        return fsspec.open(self.path, mode, compression=self.compression).open()

    def open_raw(self):
        """The shard's bytes opened for reading as stored (no decompression)."""
        return fsspec.open(self.path, "rb").open()

    def to_json(self) -> dict:
        """The shard as a plain dict."""
        return asdict(self)


def detect_format(name: str) -> tuple[str | None, str | None]:
    """('parquet'|'csv'|'tsv'|'jsonl'|None, compression|None) from a file name."""
    lower = name.lower()
    comp = None
    for ext, c in COMPRESSIONS.items():
        if lower.endswith(ext):
            comp, lower = c, lower[: -len(ext)]
            break
    for ext, f in FORMATS.items():
        if lower.endswith(ext):
            return f, comp
    return None, comp


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    for ext in (*COMPRESSIONS, ""):
        if ext and lower.endswith(ext):
            base, lower = base[: -len(ext)], lower[: -len(ext)]
            break
    for ext in FORMATS:
        if lower.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "shard"


def shard_id_for(path: str) -> str:
    """A stable shard id: the file's stem plus 8 hex digits of its path's SHA-256."""
    return f"{_stem(path)}-{hashlib.sha256(path.encode('utf-8')).hexdigest()[:8]}"


def _canonical(fs: fsspec.AbstractFileSystem, path: str, original: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return os.path.abspath(path)
    return fs.unstrip_protocol(path)


def _local_files(root: Path) -> list[str]:
    """Regular files under a local folder, in one walk. A subfolder that cannot be listed
    hides its shards: an error, not a silent skip; pipes, sockets and devices are no shards
    (reading one blocks)."""

    def refuse(e: OSError) -> None:
        raise InputError(
            f"{e.filename}: folder cannot be read ({e.strerror}): its shards would be missed"
        )

    out = []
    for dirpath, _, names in os.walk(root, onerror=refuse):
        out += [p for p in (os.path.join(dirpath, n) for n in names) if os.path.isfile(p)]
    return out


def expand_inputs(inputs: list[str]) -> list[Shard]:
    """Every data file the inputs name, in a stable order, without duplicates."""
    shards: list[Shard] = []
    seen: set[str] = set()
    for inp in inputs:
        if "://" not in inp:
            inp = str(Path(inp).expanduser())
        try:
            fs, root = url_to_fs(inp)
        except (ImportError, ValueError) as e:
            raise InputError(f"{inp}: cannot open ({e})") from None
        # an existing path is never a pattern: `photos[2019]/` is a folder, not a glob
        if _GLOB.search(root) and not fs.exists(root):
            found = sorted(fs.glob(root))
            if not found:
                raise InputError(f"{inp}: the pattern matches no file")
            paths = [p for p in found if not fs.isdir(p)]
            explicit = True
        elif fs.isdir(root):
            local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
            found = _local_files(Path(root)) if local else fs.find(root)
            paths = sorted(
                p
                for p in found
                if detect_format(p)[0] in FOLDER_FORMATS.values()
                and not p.lower().endswith((".json", ".json.gz"))
            )
            if not paths:
                raise InputError(f"{inp}: the folder has no parquet, CSV, TSV or JSONL file")
            explicit = False
        elif fs.exists(root):
            if "://" not in inp and not Path(root).is_file():
                # a FIFO or a device named `*.csv` would block the scan forever
                raise InputError(f"{inp}: not a regular file (a pipe or a device?)")
            paths = [root]
            explicit = True
        else:
            raise InputError(f"{inp}: no such file or folder")
        for p in paths:
            fmt, comp = detect_format(p)
            if fmt is None and not explicit:
                continue
            canon = _canonical(fs, p, inp)
            if canon in seen:
                continue
            seen.add(canon)
            try:
                size = fs.size(p)
            except Exception:
                size = None
            shards.append(Shard(canon, fmt, comp, size, shard_id_for(canon)))
    ids = [s.shard_id for s in shards]
    if len(set(ids)) != len(ids):  # 8 hex digits of SHA-256: astronomically rare, but check
        raise InputError("shard id collision; rename one of the inputs")
    return shards
