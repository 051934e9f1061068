"""Detector contract and the one registry of detectors.

A detector scores a batch (an Arrow table of standard columns, see `BATCH_COLUMNS`) and returns a
table of the same length with the columns its `outputs` declares: always `{name}__score`
(float64, 0 when nothing was found) and `{name}__evidence` (string, redacted, null when nothing
was found); optionally `{name}__label`, `{name}__error` and others (see detect/output.py, which
builds and checks them). It never drops a row. Its options are a pydantic model (`Options`):
an option it does not declare is an error naming the detector and the option.

Third-party detectors plug in through the entry point group `childguard.detectors`.
"""

from __future__ import annotations

import importlib.util
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from childguard.detect.context import BatchContext

ENTRY_POINT_GROUP = "childguard.detectors"

# Columns every batch handed to a detector has. `text_norm` and `url_words` are the shared
# normalised forms (see detect/textnorm.py), computed once per batch by the engine.
BATCH_COLUMNS: dict[str, pa.DataType] = {
    "row_index": pa.int64(),
    "url": pa.string(),
    "text": pa.string(),
}
# Present when the source has them (null otherwise).
OPTIONAL_COLUMNS: dict[str, pa.DataType] = {
    "laion_hash": pa.int64(),
    "uid": pa.string(),
    "key": pa.string(),
    "language": pa.string(),
}


# What `score` returns, by column suffix: every detector gives these two...
STANDARD_OUTPUTS: Mapping[str, pa.DataType] = MappingProxyType(
    {"score": pa.float64(), "evidence": pa.string()}
)
# ...and most also say what they found where the score is > 0 (read-only: classes share them).
LABELLED_OUTPUTS: Mapping[str, pa.DataType] = MappingProxyType(
    {**STANDARD_OUTPUTS, "label": pa.string()}
)


class DetectorOptions(BaseModel):
    """A detector's options, from `detector_options` in a config file or `--lists`/`--model`.

    None by default; a detector with options subclasses this as its `Options`. Unknown keys are
    errors (a misspelt option must not silently leave a default in force)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Resources:
    """What one instance needs; the Ray engine turns this into task/actor options."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int = 0
    stateful: bool = False  # True: load once per worker (actor pool); False: plain tasks


@dataclass(frozen=True)
class Example:
    """A row and what the detector must say about it; doubles as contract-test data."""

    text: str | None
    url: str | None = None
    fires: bool = True
    label: str | None = None  # expected `__label` when it fires (None: not checked)
    lang: str = "und"
    note: str = ""


class DetectorError(RuntimeError):
    """A detector that cannot be built, registered or run as its contract says."""
    pass


class Detector(ABC):
    """A caption/URL/image detector: whole-batch `score` giving `{name}__*` columns per row."""
    name: ClassVar[str]
    version: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    resources: ClassVar[Resources] = Resources()
    # Other detectors whose output columns this one reads (they run first).
    after: ClassVar[tuple[str, ...]] = ()
    # The options it takes (a pydantic model; none by default).
    Options: ClassVar[type[DetectorOptions]] = DetectorOptions
    # The columns `score` returns on every batch, `{name}__{suffix}` -> Arrow type (the engine
    # checks them: detect/output.py).
    outputs: ClassVar[Mapping[str, pa.DataType]] = STANDARD_OUTPUTS

    def __init__(self, **options: object) -> None:
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise DetectorError(
                f"detector {self.name!r} needs {', '.join(missing)}: "
                f"install the extra that provides it (see README)"
            )
        self.opts = self.parse_options(options)
        # the options as given (validated), as run.json records them and workers rebuild from
        self.options: dict[str, object] = self.opts.model_dump(mode="json", exclude_unset=True)
        self._ready = False

    @classmethod
    def parse_options(cls, options: dict[str, object]) -> DetectorOptions:
        """Validate options against `Options` (DetectorError naming the detector and option)."""
        try:
            return cls.Options.model_validate(options)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                opt = ".".join(str(p) for p in err["loc"]) or "options"
                if err["type"] == "extra_forbidden":
                    problems.append(f"unknown option {opt!r}")
                else:
                    problems.append(f"option {opt!r}: {err['msg']}")
            known = ", ".join(cls.Options.model_fields) or "none"
            raise DetectorError(
                f"detector {cls.name!r}: {'; '.join(problems)} (its options: {known})"
            ) from None

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load lexicons/models; called once per worker before the first batch."""

    def ensure_setup(self) -> None:
        """Run `setup` once (the engine calls this before the first batch)."""
        if not self._ready:
            self.setup()
            self._ready = True

    @abstractmethod
    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Return a table with `{name}__score` and `{name}__evidence`, same length as batch.

        `batch` holds the prepared columns and every earlier detector's outputs; `ctx` the
        batch's shared work (`ctx.signals`). Detectors written before the context existed
        may take `batch` alone: `run` calls them so."""

    def run(self, batch: pa.Table, ctx: BatchContext | None = None) -> pa.Table:
        """Set up if needed and score one batch (a context is built when none is given)."""
        from childguard.detect.context import BatchContext

        self.ensure_setup()
        if ctx is None:
            ctx = BatchContext.of(batch)
            if batch.num_rows == ctx.table.num_rows and "text_norm" not in batch.column_names:
                batch = ctx.table
        if _takes_context(type(self)):
            return self.score(batch, ctx)
        return self.score(batch)  # type: ignore[call-arg]

    @staticmethod
    def examples() -> list[Example]:
        """Rows that document the detector and feed the contract test (`fires` says whether it should)."""
        return []

    # helpers -------------------------------------------------------------------------------
    @classmethod
    def col(cls, suffix: str) -> str:
        """The name of one of this detector's output columns (`{name}__{suffix}`)."""
        return f"{cls.name}__{suffix}"

    @classmethod
    def empty_result(cls, n: int) -> pa.Table:
        """The output of a batch where nothing was found: numbers 0, strings null."""
        # from a buffer: `pa.array([0.0] * n)` imports pandas (0.15 s per process)
        zeros = pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(np.zeros(n))])
        return pa.table(
            {
                cls.col(suffix): zeros if typ == pa.float64() else pa.nulls(n, typ)
                for suffix, typ in cls.outputs.items()
            }
        )

    def describe(self) -> dict[str, object]:
        """Name, version and options, as recorded in run.json and manifests."""
        return {"name": self.name, "version": self.version, "options": dict(self.options)}


@cache
def _takes_context(cls: type) -> bool:
    """Does `cls.score` accept the batch context (a second positional parameter)?"""
    params = list(inspect.signature(cls.score).parameters.values())[1:]
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)


@dataclass
class DetectorRegistry:
    """Name -> detector class. Duplicate names are an error, never a silent override."""

    _classes: dict[str, type[Detector]] = field(default_factory=dict)
    _entry_points_loaded: bool = False

    def register(self, cls: type[Detector]) -> type[Detector]:
        """Add a detector class under its name (a duplicate name is an error)."""
        name = getattr(cls, "name", None)
        if not name or not isinstance(name, str):
            raise DetectorError(f"{cls.__qualname__} has no `name`")
        if not getattr(cls, "version", None):
            raise DetectorError(f"detector {name!r} has no `version`")
        opts = getattr(cls, "Options", None)
        if not (
            isinstance(opts, type)
            and issubclass(opts, DetectorOptions)
            and opts.model_config.get("extra") == "forbid"
        ):
            raise DetectorError(
                f"detector {name!r}: `Options` must subclass DetectorOptions (unknown keys forbidden)"
            )
        outputs = getattr(cls, "outputs", {})
        for suffix, typ in STANDARD_OUTPUTS.items():
            if outputs.get(suffix) != typ:
                raise DetectorError(f"detector {name!r}: `outputs` must declare {suffix}: {typ}")
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise DetectorError(
                f"duplicate detector name {name!r}: {existing.__module__}.{existing.__qualname__}"
                f" and {cls.__module__}.{cls.__qualname__}"
            )
        self._classes[name] = cls
        return cls

    def load_entry_points(self) -> None:
        """Register the detectors other packages declare (`childguard.detectors` entry points), once."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            cls = ep.load()
            self.register(cls)

    def get(self, name: str) -> type[Detector]:
        """The detector class registered under `name` (DetectorError naming the known ones if none)."""
        self.load_entry_points()
        try:
            return self._classes[name]
        except KeyError:
            raise DetectorError(
                f"unknown detector {name!r}; known: {', '.join(sorted(self._classes))}"
            ) from None

    def names(self) -> list[str]:
        """Every registered detector name, sorted."""
        self.load_entry_points()
        return sorted(self._classes)

    def create(
        self, names: Iterable[str], options: dict[str, dict] | None = None
    ) -> list[Detector]:
        """Instantiate detectors, ordered so that each runs after the ones it reads."""
        options = options or {}
        for n in options:  # options for a misspelt detector would otherwise go unused
            if n not in self._classes and n not in self.names():
                raise DetectorError(
                    f"options given for unknown detector {n!r}; known: {', '.join(self.names())}"
                )
        wanted = list(dict.fromkeys(names))
        classes = {n: self.get(n) for n in wanted}
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in ordered:
                return
            if n in visiting:
                raise DetectorError(f"detector dependency cycle at {n!r}")
            visiting.add(n)
            for dep in classes[n].after:
                if dep not in classes:
                    classes[dep] = self.get(dep)
                visit(dep)
            visiting.discard(n)
            ordered.append(n)

        for n in wanted:
            visit(n)
        return [classes[n](**options.get(n, {})) for n in ordered]


REGISTRY = DetectorRegistry()


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: add a detector to the global registry."""
    return REGISTRY.register(cls)
