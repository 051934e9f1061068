"""The `childguard` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="childguard",
    help="Find children's personal data in image-text datasets and take it out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# --- subcommands registered by area (one line each; keep this block sorted) ---------------
from childguard.evaluate import eval_cmd  # noqa: E402
from childguard.lists.commands import app as lists_app  # noqa: E402
from childguard.release.commands import apply_cmd, release_cmd, verify_cmd  # noqa: E402
from childguard.report.commands import report_cmd  # noqa: E402
from childguard.scan_cli import demo, scan  # noqa: E402
from childguard.web.commands import serve_cmd, users_app  # noqa: E402

app.add_typer(lists_app, name="lists")
app.add_typer(users_app, name="users")

app.command("scan")(scan)
app.command("demo")(demo)
app.command("release")(release_cmd)
app.command("verify")(verify_cmd)
app.command("apply")(apply_cmd)
app.command("report")(report_cmd)
app.command("serve")(serve_cmd)
app.command("eval")(eval_cmd)
# ---------------------------------------------------------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
