"""Render the report's numbers as one self-contained HTML page (inline CSS, inline SVG plots)."""

from __future__ import annotations

from importlib.resources import files

from childguard.install import install_hint
from childguard.report import plots as plots_mod

MAX_SHARD_ROWS = 200  # rows of the per-shard table in HTML; report.json has every shard

RISK_HELP = {
    "blocked": "matched a takedown list (URL, hash or image fingerprint); removed regardless "
    "of anything else",
    "identifiable_child": "a child together with something that identifies them (a name, "
    "school, place, date of birth...); removed by default",
    "child": "a child is mentioned or shown, with nothing identifying found; sent to review "
    "by default",
}


def pct(x: float | None, digits: int = 2) -> str:
    """A share as a percentage, with enough digits that small shares do not show as 0."""
    if x is None:
        return "–"
    if x == 0:
        return "0%"
    v = 100 * x
    d = digits
    while d < 6 and abs(v) < 10 ** (-d) * 10:
        d += 1
    return f"{v:.{d}f}%"


def num(x: float | int | None, digits: int = 0) -> str:
    """A number with thousands separators, or a dash for None."""
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def size(n: int | None) -> str:
    """A byte count in B/KiB/MiB/GiB/TiB, or a dash when unknown."""
    if not n:
        return "–"
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            return f"{v:,.0f} {unit}" if unit == "B" else f"{v:,.1f} {unit}"
        v /= 1024
    return f"{n} B"


def render_html(data: dict, plots: bool = True) -> str:
    """The report as one self-contained HTML page (plots inline when matplotlib is present)."""
    from jinja2 import Environment, StrictUndefined

    env = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(pct=pct, num=num, size=size)
    src = (files("childguard.report") / "templates" / "report.html").read_text(encoding="utf-8")
    have_plots = plots and plots_mod.available()
    figs = plots_mod.all_plots(data) if have_plots else {}
    note = None
    if plots and not have_plots:
        note = f"plots left out: matplotlib is not installed ({install_hint('report')})"
    shown = data["shards"]
    if len(shown) > MAX_SHARD_ROWS:
        shown = sorted(shown, key=lambda s: (-(s["flagged_share"] or 0.0), s["shard_id"]))
        shown = shown[:MAX_SHARD_ROWS]
    return env.from_string(src).render(
        d=data,
        figs=figs,
        plots_note=note,
        risk_help=RISK_HELP,
        risks=("blocked", "identifiable_child", "child"),
        shown=shown,
    )
