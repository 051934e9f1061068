"""Plots for the report, as self-contained SVG data URIs (matplotlib, no display needed).

The SVG goes into an <img> tag, where a browser runs no script inside it; labels are detector
labels and shard ids, never source text.
"""

from __future__ import annotations

import base64
import io

RISK_COLORS = {
    "blocked": "#7f1d1d",
    "identifiable_child": "#dc2626",
    "child": "#f59e0b",
    "any": "#334155",
}
_RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable
    "svg.hashsalt": "childguard-report",  # stable element ids, so output is reproducible
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def available() -> bool:
    """True when matplotlib is installed (plots are optional)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _fig(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(s: str, n: int = 36) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 0.0001:
        return f"{100 * x:.4f}%"
    if x < 0.01:
        return f"{100 * x:.3f}%"
    return f"{100 * x:.2f}%"


def prevalence_plot(data: dict) -> str | None:
    """Share of scanned rows per risk, with 95% Wilson intervals (and review-adjusted)."""
    import matplotlib

    prev = [p for p in data["prevalence"] if p["share"] is not None]
    if not prev:
        return None
    adjusted = {}
    if data["review"].get("available"):
        adjusted = {
            r["risk"]: r for r in data["review"]["by_risk"] if r["adjusted_share"] is not None
        }
    with matplotlib.rc_context(_RC):
        fig = _fig(7.5, 0.55 * len(prev) + 1.2)
        ax = fig.add_subplot()
        ys = list(range(len(prev)))[::-1]
        top = max(p["ci_high"] for p in prev) or 1e-9
        legend = "confirmed by review (precision-adjusted)"
        for y, p in zip(ys, prev, strict=True):
            c = RISK_COLORS.get(p["risk"], "#334155")
            ax.barh(y, 100 * p["share"], color=c, alpha=0.85, height=0.5)
            ax.errorbar(
                100 * p["share"],
                y,
                xerr=[[100 * (p["share"] - p["ci_low"])], [100 * (p["ci_high"] - p["share"])]],
                fmt="none",
                ecolor="black",
                capsize=3,
                lw=1,
            )
            label = f"{_pct(p['share'])}  [{_pct(p['ci_low'])}–{_pct(p['ci_high'])}]"
            ax.text(100 * p["ci_high"] + 100 * top * 0.02, y, label, va="center", fontsize=8)
            a = adjusted.get(p["risk"])
            if a is not None:
                ax.errorbar(
                    100 * a["adjusted_share"],
                    y - 0.32,
                    xerr=[
                        [100 * (a["adjusted_share"] - a["adjusted_low"])],
                        [100 * (a["adjusted_high"] - a["adjusted_share"])],
                    ],
                    fmt="D",
                    color="#1d4ed8",
                    ms=4,
                    capsize=2,
                    lw=1,
                    label=legend,
                )
                legend = "_"  # one legend entry for all markers
        ax.set_yticks(ys, [p["risk"].replace("any", "any flagged") for p in prev])
        ax.set_xlim(0, 100 * top * 1.45)
        ax.set_xlabel("share of scanned rows (%) with 95% Wilson interval")
        if adjusted:
            fig.legend(loc="outside upper right", frameon=False, fontsize=8)
        return _data_uri(fig)


def shard_plot(data: dict, top: int = 25) -> str | None:
    """Flagged share per shard, stacked by risk: the top shards by flagged share."""
    import matplotlib

    shards = sorted(
        (s for s in data["shards"] if s["rows"]),
        key=lambda s: (-(s["flagged_share"] or 0), s["shard_id"]),
    )[:top]
    if not shards:
        return None
    with matplotlib.rc_context(_RC):
        fig = _fig(7.5, 0.28 * len(shards) + 1.3)
        ax = fig.add_subplot()
        ys = list(range(len(shards)))[::-1]
        left = [0.0] * len(shards)
        for risk in ("blocked", "identifiable_child", "child"):
            vals = [100 * s["risk_counts"][risk] / s["rows"] for s in shards]
            ax.barh(ys, vals, left=left, color=RISK_COLORS[risk], label=risk, height=0.7)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.set_yticks(ys, [_short(s["shard_id"]) for s in shards], fontsize=7.5)
        ax.set_xlabel("share of the shard's rows flagged (%)")
        fig.legend(loc="outside upper center", ncols=3, frameon=False, fontsize=8)
        n = len([s for s in data["shards"] if s["rows"]])
        if n > top:
            ax.set_title(f"{top} of {n} shards, highest flagged share first", fontsize=9)
        return _data_uri(fig)


def signal_plot(data: dict, top: int = 20) -> str | None:
    """Flagged rows per detector label, stacked by the risk the row got."""
    import matplotlib

    sig = data["signals"][:top]
    if not sig:
        return None
    with matplotlib.rc_context(_RC):
        fig = _fig(7.5, 0.3 * len(sig) + 1.3)
        ax = fig.add_subplot()
        ys = list(range(len(sig)))[::-1]
        left = [0.0] * len(sig)
        for risk in ("blocked", "identifiable_child", "child"):
            vals = [float(s["by_risk"].get(risk, 0)) for s in sig]
            ax.barh(ys, vals, left=left, color=RISK_COLORS[risk], label=risk, height=0.7)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        names = [
            _short(
                s["detector"] if s["label"] == s["detector"] else f"{s['detector']}: {s['label']}"
            )
            for s in sig
        ]
        ax.set_yticks(ys, names, fontsize=7.5)
        ax.set_xlabel("flagged rows on which the signal fired")
        fig.legend(loc="outside upper center", ncols=3, frameon=False, fontsize=8)
        return _data_uri(fig)


def all_plots(data: dict) -> dict[str, str]:
    """Every plot the data allows, as name -> SVG data URI."""
    out = {}
    for name, fn in (
        ("prevalence", prevalence_plot),
        ("shards", shard_plot),
        ("signals", signal_plot),
    ):
        uri = fn(data)
        if uri is not None:
            out[name] = uri
    return out
