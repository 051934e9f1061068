"""The `childguard` command line."""

from __future__ import annotations

import os
from typing import NoReturn

import typer

# CHILDGUARD_DEBUG=1: an unexpected error shows its traceback; otherwise one line (see main)
DEBUG = os.environ.get("CHILDGUARD_DEBUG", "") not in ("", "0")

app = typer.Typer(
    name="childguard",
    help="Find children's personal data in image-text datasets and take it out.",
    no_args_is_help=True,
    # Plain click help: rich markup would eat "[scan]"-style text in help strings and print
    # a "<bool>" type beside every flag. Sub-apps inherit it (tests/test_cli_help.py).
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=DEBUG,
)

# --- subcommands registered by area (one line each; keep this block sorted) ---------------
from childguard.evaluate import eval_cmd  # noqa: E402
from childguard.lists.commands import app as lists_app  # noqa: E402
from childguard.registry.commands import index_cmd, match_cmd  # noqa: E402
from childguard.release.commands import apply_cmd, keygen_cmd, release_cmd, verify_cmd  # noqa: E402
from childguard.report.commands import report_cmd  # noqa: E402
from childguard.scan_cli import demo, rematch, scan  # noqa: E402
from childguard.scorer.commands import train_cmd  # noqa: E402
from childguard.vision.clip_cli import clip_prompts_cmd  # noqa: E402
from childguard.vision.probe_cli import app as clip_probe_app  # noqa: E402
from childguard.web.commands import serve_cmd, users_app  # noqa: E402

app.add_typer(clip_probe_app, name="clip-probe")
app.add_typer(lists_app, name="lists")
app.add_typer(users_app, name="users")

app.command("scan")(scan)
app.command("rematch")(rematch)
app.command("demo")(demo)
app.command("release")(release_cmd)
app.command("verify")(verify_cmd)
app.command("apply")(apply_cmd)
app.command("keygen")(keygen_cmd)
app.command("report")(report_cmd)
app.command("serve")(serve_cmd)
app.command("eval")(eval_cmd)
app.command("train")(train_cmd)
app.command("clip-prompts")(clip_prompts_cmd)
app.command("match")(match_cmd)
app.command("index")(index_cmd)
# ---------------------------------------------------------------------------------------------


# Optional extras: a command that needs one says which, instead of a traceback.
_EXTRA_OF_MODULE = {
    "fastapi": "web",
    "uvicorn": "web",
    "sqlalchemy": "web",
    "alembic": "web",
    "argon2": "web",
    "itsdangerous": "web",
    "multipart": "web",
    "python_multipart": "web",
    "psycopg": "postgres",
    "pdqhash": "images",
    "PIL": "images",
    "faiss": "images",
    "matplotlib": "report",
    "ray": "ray",
    "s3fs": "remote",
    "huggingface_hub": "remote",
    "aiohttp": "remote",
}


def main() -> NoReturn:
    """The `childguard` entry point: `run`, then leave without native teardown (a crash in
    Arrow's thread pools at interpreter exit would fail work that succeeded: process_exit.py)."""
    from childguard.process_exit import exit_process

    try:
        run()
    except SystemExit as e:
        exit_process(e.code)
    exit_process(0)


def run() -> None:
    """Run the command line; a missing extra or an unexpected error is one line (SystemExit)."""
    import sys

    try:
        app()
    except ModuleNotFoundError as e:
        from childguard.install import install_hint

        top = (e.name or "").split(".")[0]
        extra = _EXTRA_OF_MODULE.get(top)
        if extra is None:
            _unexpected(e)
        print(
            f"error: this command needs the optional package {top!r}: {install_hint(extra)}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    except Exception as e:  # tracebacks are not the interface: one line, exit 1
        _unexpected(e)


def _unexpected(e: BaseException) -> NoReturn:
    """An error no command explained: its kind and first line (never a row's text: our
    messages name files, rows and columns), and how to see the traceback."""
    import sys

    if DEBUG:
        raise e
    first = (str(e).strip().splitlines() or [""])[0][:300]
    print(
        f"error: {type(e).__name__}{': ' + first if first else ''}\n"
        "(this is a bug or an unexpected input; CHILDGUARD_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    raise SystemExit(1) from None


if __name__ == "__main__":
    main()
