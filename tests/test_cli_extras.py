"""A command whose optional extra is missing says which extra to install, not a traceback."""

from __future__ import annotations

import sys

import pytest

from childguard import cli


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def boom() -> None:
        raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as e:
        cli.run()
    assert e.value.code == 2
    # the hint for this installation (an editable checkout here, an index install elsewhere)
    from childguard.install import install_hint

    err = capsys.readouterr().err
    assert install_hint("web") in err and "[web]" in err


def test_other_missing_modules_say_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def boom() -> None:
        raise ModuleNotFoundError("No module named 'nope'", name="nope")

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.setattr(sys, "argv", ["childguard"])
    # not an extra of ours: one line naming it, exit 1 (the traceback with CHILDGUARD_DEBUG=1)
    monkeypatch.setattr(cli, "DEBUG", False)
    with pytest.raises(SystemExit) as e:
        cli.run()
    assert e.value.code == 1
    assert "ModuleNotFoundError: No module named 'nope'" in capsys.readouterr().err
    monkeypatch.setattr(cli, "DEBUG", True)
    with pytest.raises(ModuleNotFoundError):
        cli.run()
