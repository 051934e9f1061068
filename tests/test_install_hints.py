"""Install hints that work (issue 12, item 4): from a checkout, `pip install -e 'DIR[extra]'`;
the demo's next steps name the command as it was invoked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from childguard import install


class _Dist:
    def __init__(self, direct_url: dict | None) -> None:
        self._raw = json.dumps(direct_url) if direct_url is not None else None

    def read_text(self, name: str) -> str | None:
        return self._raw if name == "direct_url.json" else None


def test_hint_for_an_editable_checkout_and_for_an_index_install(monkeypatch) -> None:
    def use(direct_url):
        install._editable_dir.cache_clear()
        monkeypatch.setattr(install.metadata, "distribution", lambda _n: _Dist(direct_url))

    use({"url": "file:///home/me/childguard", "dir_info": {"editable": True}})
    assert install.install_hint("web") == "pip install -e '/home/me/childguard[web]'"
    use(None)  # a wheel from an index leaves no direct_url.json
    assert install.install_hint("web") == "pip install 'childguard[web]'"
    use({"url": "file:///tmp/childguard-1.0.whl", "archive_info": {}})
    assert install.install_hint("ray") == "pip install 'childguard[ray]'"
    install._editable_dir.cache_clear()


def test_command_name_is_what_was_invoked(monkeypatch, tmp_path: Path) -> None:
    exe = tmp_path / "venv" / "bin" / "childguard"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(exe), "demo"])
    monkeypatch.setattr(install.shutil, "which", lambda _n: None)  # venv not on PATH
    assert install.command_name() == str(exe)
    monkeypatch.setattr(install.shutil, "which", lambda _n: str(exe))  # venv activated
    assert install.command_name() == "childguard"
