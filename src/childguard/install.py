"""How to install an optional extra, and how to run childguard, as this copy was installed.

`pip install 'childguard[web]'` fails from a source checkout (the package is not on an index
there); an editable install (`pip install -e .`) needs `pip install -e '/path/to/checkout[web]'`.
And a user who ran `.venv/bin/childguard demo` has no `childguard` on PATH: the hints print
the command as it was invoked.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from functools import lru_cache
from importlib import metadata
from urllib.parse import unquote, urlparse


@lru_cache(maxsize=1)
def _editable_dir() -> str | None:
    """The checkout this copy is installed from in editable mode, else None."""
    try:
        raw = metadata.distribution("childguard").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    if not info.get("dir_info", {}).get("editable"):
        return None
    url = urlparse(info.get("url", ""))
    return unquote(url.path) if url.scheme == "file" else None


def install_hint(extra: str) -> str:
    """The pip command that adds `extra` to this installation."""
    src = _editable_dir()
    if src is not None:
        return f"pip install -e '{src}[{extra}]'"
    return f"pip install 'childguard[{extra}]'"


def command_name() -> str:
    """`childguard` when that is on PATH and is this program, else the path it was run by."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "childguard"
    if os.path.basename(argv0) != "childguard":
        return "childguard"  # `python -m childguard` or a test runner: the documented name
    found = shutil.which("childguard")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "childguard"
    return argv0
