"""Policy: the one place that turns detector scores into a risk and an action per row.

A policy is data (TOML/YAML, validated here). Each detector's score becomes a boolean signal
named after the detector (`score >= threshold`). Rules are boolean expressions over signals,
e.g. `child_terms and (names or institutions)`, or comparisons on scores (`ages >= 0.9`);
the first rule that matches a row sets its risk. Every decision carries its explanation: the
rule, and each firing detector with version, label, score, threshold and redacted evidence.
"""

from __future__ import annotations

import ast
import hashlib
import json
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

Risk = Literal["blocked", "identifiable_child", "child", "clean"]
Action = Literal["remove", "review", "keep"]
RISKS: tuple[str, ...] = ("blocked", "identifiable_child", "child", "clean")

REASON_TYPE = pa.struct(
    [
        ("detector", pa.string()),
        ("version", pa.string()),
        ("label", pa.string()),
        ("score", pa.float64()),
        ("threshold", pa.float64()),
        ("evidence", pa.string()),
    ]
)


class PolicyError(ValueError):
    """A policy that cannot be read, parsed or run against the running detectors."""
    pass


class Rule(BaseModel):
    """One policy rule: a condition over detector signals/scores and the risk it sets."""
    model_config = ConfigDict(extra="forbid")
    name: str
    risk: Literal["blocked", "identifiable_child", "child"]
    when: str
    action: Action | None = None  # None: the risk's action (policy `actions`)

    @field_validator("when")
    @classmethod
    def _parses(cls, v: str) -> str:
        _compile(v, known=None)
        return v


class ReviewBand(BaseModel):
    """Rows just below a probability rule's threshold go to human review, as many as people
    can read: the band's lower edge is set from the model's score distribution on real rows
    (`scorer.model.threshold_for_band`), so it holds about `max_per_million` rows per million."""

    model_config = ConfigDict(extra="forbid")
    detector: str = "scorer"
    below: float = Field(gt=0, le=1)  # upper edge: the automatic rule's threshold
    max_per_million: float = Field(ge=0)
    risk: Literal["identifiable_child", "child"] = "child"
    name: str = "uncertain_review"
    # a model without a pool distribution (trained without --pool) cannot size the band:
    # its lower edge is then this probability
    fallback_threshold: float = Field(default=0.1, ge=0, le=1)
    # filled in when the policy is resolved against the running model (recorded in run.json)
    resolved_threshold: float | None = None
    resolved_by: str | None = None


class Policy(BaseModel):
    """A validated policy: thresholds, ordered rules and risk actions; decides every row."""
    model_config = ConfigDict(extra="forbid")
    version: str = "1"
    review: ReviewBand | None = None
    detectors: list[str] | None = None  # None: every registered detector
    thresholds: dict[str, float] = Field(default_factory=dict)
    default_threshold: float = 0.5
    rules: list[Rule]
    actions: dict[str, Action] = Field(
        default_factory=lambda: {
            "blocked": "remove",
            "identifiable_child": "remove",
            "child": "review",
            "clean": "keep",
        }
    )

    @field_validator("actions")
    @classmethod
    def _all_risks(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(RISKS)
        if unknown:
            raise ValueError(f"unknown risk(s) in actions: {sorted(unknown)}")
        return {"clean": "keep", **v}

    def threshold(self, detector: str) -> float:
        """The signal threshold of one detector (its own, else `default_threshold`)."""
        return self.thresholds.get(detector, self.default_threshold)

    def resolve(self, detectors: list) -> Policy:
        """The policy with its review band turned into a rule for the running detectors.

        The band rule sits right after the last rule that reads the band's detector, so rows
        above `below` are decided by that rule and the band catches those just under it."""
        band = self.review
        if band is None or band.resolved_threshold is not None:
            return self
        det = next((d for d in detectors if d.name == band.detector), None)
        if det is None:
            raise PolicyError(
                f"the review band reads detector {band.detector!r}, which is not running"
            )
        from childguard.scorer.model import ModelError

        if not hasattr(det, "band_threshold"):
            raise PolicyError(f"detector {band.detector!r} cannot size a review band")
        try:
            lo = det.band_threshold(band.below, band.max_per_million)
            how = f"{band.max_per_million:g} rows per million on the model's pool"
        except ModelError:
            lo, how = band.fallback_threshold, "fallback_threshold (model has no pool distribution)"
        rules = list(self.rules)
        at = max(
            (i for i, r in enumerate(rules) if band.detector in _bare_names(r.when)),
            default=len(rules) - 1,
        )
        if lo < band.below:
            rule = Rule(
                name=band.name,
                risk=band.risk,
                when=f"{band.detector} >= {lo!r} and {band.detector} < {band.below!r}",
                action="review",
            )
            rules.insert(at + 1, rule)
        return self.model_copy(
            update={
                "rules": rules,
                "review": band.model_copy(update={"resolved_threshold": lo, "resolved_by": how}),
            }
        )

    def threshold_of(self, column: str, risk: str | None = None) -> float | None:
        """The threshold of the first rule that is exactly `<column> >= x` (column as in a
        rule: `scorer`, `scorer.minor`), optionally of one risk; None when there is none."""
        for r in self.rules:
            if risk is not None and r.risk != risk:
                continue
            body = _parse(r.when).body
            if not (
                isinstance(body, ast.Compare)
                and len(body.ops) == 1
                and isinstance(body.ops[0], ast.GtE)
                and isinstance(body.comparators[0], ast.Constant)
            ):
                continue
            left = body.left
            name = (
                left.id
                if isinstance(left, ast.Name)
                else f"{left.value.id}.{left.attr}"
                if isinstance(left, ast.Attribute) and isinstance(left.value, ast.Name)
                else None
            )
            if name == column:
                return float(body.comparators[0].value)
        return None

    def rule_detectors(self) -> dict[str, list[str]]:
        """Rule name -> the detectors its condition reads, in the order they appear."""
        return _rule_detectors(tuple((r.name, r.when) for r in self.rules))

    def field_columns(self) -> set[str]:
        """The `{detector}__{field}` columns the rules read (`scorer.minor`)."""
        return {c for r in self.rules for c in _fields(r.when)}

    def signal_names(self) -> set[str]:
        """Every detector name the rules read."""
        names: set[str] = set()
        for r in self.rules:
            names |= _names(r.when)
        return names

    def check_detectors(self, available: set[str]) -> None:
        """Raise PolicyError if a rule names a detector not in `available`."""
        missing = self.signal_names() - available
        if missing:
            raise PolicyError(
                f"policy rules name detector(s) that are not running: {sorted(missing)}"
            )

    def fingerprint(self) -> str:
        """A 16-hex-digit SHA-256 of the policy's canonical JSON, to tell policies apart."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # evaluation ---------------------------------------------------------------------------
    def decide(self, scores: pl.DataFrame, versions: dict[str, str]) -> pl.DataFrame:
        """scores: one row per input row with `{det}__score/__evidence[/__label]` columns.

        Returns columns risk, action, rule (nulls for clean rows' rule)."""
        present = {c.split("__", 1)[0] for c in scores.columns if c.endswith("__score")}
        self.check_detectors(present)
        signals = {d: pl.col(f"{d}__score").fill_null(0.0) >= self.threshold(d) for d in present}
        scores_expr = {d: pl.col(f"{d}__score").fill_null(0.0) for d in present}
        # the index of the first rule that fires (len(rules): none), then three small lookups:
        # one integer column instead of three string when/then chains over every row
        first = pl.lit(len(self.rules), dtype=pl.UInt32)
        for k in reversed(range(len(self.rules))):
            cond = _compile(self.rules[k].when, known=(signals, scores_expr))
            first = pl.when(cond).then(pl.lit(k, dtype=pl.UInt32)).otherwise(first)
        risks = [r.risk for r in self.rules] + ["clean"]
        actions = [r.action or self.actions.get(r.risk, "keep") for r in self.rules] + ["keep"]
        names = [r.name for r in self.rules] + [None]
        hit = scores.select(first.alias("i"))["i"]
        return pl.DataFrame(
            {
                "risk": pl.Series(risks, dtype=pl.String).gather(hit),
                "action": pl.Series(actions, dtype=pl.String).gather(hit),
                "rule": pl.Series(names, dtype=pl.String).gather(hit),
            }
        )

    def reasons(
        self, flagged: pl.DataFrame, versions: dict[str, str], rules: list[str | None] | None = None
    ) -> list[list[dict]]:
        """Per flagged row: every detector whose signal fired, and every detector the deciding
        rule read (a review band's `scorer < 0.35` is below its signal), with explanations."""
        row, cols = self.reason_columns(flagged, versions, rules)
        out: list[list[dict]] = [[] for _ in range(flagged.height)]
        names = list(cols)
        for k, r in enumerate(row.tolist()):
            out[r].append({f: cols[f][k] for f in names})
        return out

    def reason_columns(
        self, flagged: pl.DataFrame, versions: dict[str, str], rules: list[str | None] | None = None
    ) -> tuple[np.ndarray, dict[str, list]]:
        """`reasons` as columns: (each reason's row, sorted; field -> one value per reason),
        a row's reasons in the order of its detectors' columns."""
        from childguard.redact import allow_evidence
        from childguard.scorer.features import _evidence_words

        vocab = _evidence_words()
        read_by = self.rule_detectors() if rules is not None else {}
        dets = [c[: -len("__score")] for c in flagged.columns if c.endswith("__score")]
        rows: list[np.ndarray] = []
        cols: dict[str, list] = {f.name: [] for f in REASON_TYPE}
        # in numpy: the flagged rows are few, and a Polars call per detector and test cost
        # ~1 ms a batch; each row's rule as a code into its distinct names
        distinct = list(dict.fromkeys(rules or []))
        code = {r: i for i, r in enumerate(distinct)}
        rule_code = np.fromiter((code[r] for r in rules or []), np.int64, len(rules or []))
        for d in dets:
            thr = self.threshold(d)
            sc = flagged[f"{d}__score"].fill_null(0.0).to_numpy()
            # Polars' order, as `decide` compared: NaN above every number
            nan = np.isnan(sc)
            positive = nan | (sc > 0)
            hit = (nan | (sc >= thr)) & positive
            if rules is not None:
                reading = {name for name, ds in read_by.items() if d in ds}
                reads = np.array([r in reading for r in distinct], bool)[rule_code]
                hit = hit | (reads & positive)
            if not hit.any():
                continue
            at = np.flatnonzero(hit)
            taken = flagged[f"{d}__evidence"].gather(at).to_list()
            if f"{d}__label" in flagged.columns:
                labels = flagged[f"{d}__label"].gather(at).to_list()
                labels = [x or d for x in labels]
            else:
                labels = [d] * len(at)
            rows.append(at)
            cols["detector"] += [d] * len(at)
            cols["version"] += [versions.get(d, "?")] * len(at)
            cols["label"] += labels
            cols["score"] += sc[at].astype(float).tolist()
            cols["threshold"] += [float(thr)] * len(at)
            cols["evidence"] += [allow_evidence(e, vocab) for e in taken]
        row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        # a row's reasons in detector order: a stable sort of the detector-major lists
        order = np.argsort(row, kind="stable")
        return row[order], {f: [v[i] for i in order.tolist()] for f, v in cols.items()}


_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Name,
    ast.Load,
    ast.Compare,
    ast.Constant,
    ast.Gt,
    ast.GtE,
    ast.Lt,
    ast.LtE,
    ast.Eq,
    ast.NotEq,
    ast.Attribute,  # `scorer.minor`: another score column of a detector (`scorer__minor`)
)


@lru_cache(maxsize=256)
def _parse(expr: str) -> ast.Expression:
    # cached: every batch's `decide` reads each rule's tree (the trees are only read)
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise PolicyError(f"cannot parse rule {expr!r}: {e.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise PolicyError(
                f"rule {expr!r}: only and/or/not, detector names and comparisons with numbers "
                f"are allowed (found {type(node).__name__})"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise PolicyError(f"rule {expr!r}: constants must be numbers")
    compared = {id(n.left) for n in ast.walk(tree) if isinstance(n, ast.Compare)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
            id(node) not in compared or not isinstance(node.value, ast.Name)
        ):
            raise PolicyError(
                f"rule {expr!r}: a field (`detector.field`) is only allowed compared with a "
                "number, e.g. `scorer.minor >= 0.5`"
            )
    return tree


def _names(expr: str) -> set[str]:
    return {n.id for n in ast.walk(_parse(expr)) if isinstance(n, ast.Name)}


def _bare_names(expr: str) -> set[str]:
    """Detectors whose main score a rule reads (not only a field such as `scorer.minor`)."""
    tree = _parse(expr)
    attr_values = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in attr_values}


def _fields(expr: str) -> set[str]:
    """`det__field` columns a rule reads through attributes (`scorer.minor`)."""
    return {
        f"{n.value.id}__{n.attr}"
        for n in ast.walk(_parse(expr))
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }


def _compile(expr: str, known: tuple[dict, dict] | None) -> pl.Expr:
    tree = _parse(expr)
    if known is None:
        return pl.lit(True)
    signals, scores = known

    def conv(node: ast.AST) -> pl.Expr:
        if isinstance(node, ast.Expression):
            return conv(node.body)
        if isinstance(node, ast.BoolOp):
            exprs = [conv(v) for v in node.values]
            out = exprs[0]
            for e in exprs[1:]:
                out = (out & e) if isinstance(node.op, ast.And) else (out | e)
            return out
        if isinstance(node, ast.UnaryOp):
            return ~conv(node.operand)
        if isinstance(node, ast.Name):
            return signals[node.id]
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.left, ast.Name | ast.Attribute):
                raise PolicyError(f"rule {expr!r}: write comparisons as `detector >= number`")
            if isinstance(node.left, ast.Attribute):
                if not isinstance(node.left.value, ast.Name):
                    raise PolicyError(f"rule {expr!r}: write fields as `detector.field`")
                left = pl.col(f"{node.left.value.id}__{node.left.attr}").fill_null(0.0)
            else:
                left = scores[node.left.id]
            right = node.comparators[0]
            assert isinstance(right, ast.Constant)
            v = right.value
            op = node.ops[0]
            return {
                ast.Gt: left > v,
                ast.GtE: left >= v,
                ast.Lt: left < v,
                ast.LtE: left <= v,
                ast.Eq: left == v,
                ast.NotEq: left != v,
            }[type(op)]
        raise PolicyError(f"rule {expr!r}: unsupported {type(node).__name__}")

    return conv(tree)


DEFAULT_POLICY_FILE = Path(__file__).parent / "default_policy.toml"
SHIPPED_POLICIES = Path(__file__).parent / "policies"


def parse_settings(path: Path, raw: str) -> Any:
    """A policy or config file's text as data: YAML for .yaml/.yml, else TOML (PolicyError
    naming the file on a syntax error)."""
    if path.suffix in (".yaml", ".yml"):
        import yaml  # YAML files only: ~15 ms of every scan's start otherwise

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise PolicyError(f"{path}: {e}") from None
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{path}: {e}") from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy from TOML or YAML; None gives the shipped default policy, and a bare
    name that is no file names a shipped one (`rules`: the hand rules without the model)."""
    p = Path(path) if path is not None else DEFAULT_POLICY_FILE
    if path is not None and not p.exists() and (SHIPPED_POLICIES / f"{path}.toml").is_file():
        p = SHIPPED_POLICIES / f"{path}.toml"
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"cannot read policy {p}: {e.strerror}") from None
    data = parse_settings(p, raw)
    if isinstance(data, dict) and "policy" in data and isinstance(data["policy"], dict):
        data = data["policy"]
    try:
        return Policy.model_validate(data)
    except Exception as e:
        raise PolicyError(f"{p}: invalid policy:\n{e}") from None


def rules_read(rules: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """(rule name, condition) pairs -> the detectors each condition reads, in order."""
    return dict(_rule_detectors(rules))


@lru_cache(maxsize=64)
def _rule_detectors(rules: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out = {}
    for name, when in rules:
        seen = []
        for n in ast.walk(_parse(when)):
            if isinstance(n, ast.Name) and n.id not in seen:
                seen.append(n.id)
            elif (
                isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and n.value.id not in seen
            ):
                seen.append(n.value.id)
        out[name] = seen
    return out
