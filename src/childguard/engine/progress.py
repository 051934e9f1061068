"""Progress: a rich bar with rows/s and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress


class ScanProgress:
    """Scan progress: a rich bar on a terminal, a log line every 10 s otherwise."""
    def __init__(
        self,
        total_rows: int | None,
        total_tasks: int,
        enabled: bool | None = None,
        *,
        shards: int | None = None,
        t0: float | None = None,
    ):
        self.total_rows, self.total_tasks = total_rows, total_tasks
        self.shards = shards
        self.rows = self.tasks = 0
        # the run's own clock, so these lines and the scan summary give one time and rate
        self.t0 = time.perf_counter() if t0 is None else t0
        self.tty = sys.stderr.isatty() if enabled is None else enabled
        self.quiet = enabled is False
        self._last_log = self.t0
        self._bar: Progress | None = None
        self._id = None

    def __enter__(self) -> ScanProgress:
        if self.tty and not self.quiet:
            # rich's bar only on a terminal: a scan that logs lines does not import it
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]scan"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows · {task.fields[rate]} rows/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            total = self.total_rows if self.total_rows is not None else None
            self._id = self._bar.add_task("scan", total=total, rate="0")
        return self

    def advance(self, rows: int) -> None:
        """Count one finished task of `rows` rows and update the bar or log."""
        self.rows += rows
        self.tasks += 1
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.rows / elapsed
        if self._bar is not None:
            self._bar.update(self._id, advance=rows, rate=f"{rate:,.0f}")
        elif not self.quiet and time.perf_counter() - self._last_log > 10:
            self._last_log = time.perf_counter()
            self._line(elapsed)

    def _line(self, seconds: float, prefix: str = "scan") -> None:
        total = f"/{self.total_rows:,}" if self.total_rows else ""
        of = f" of {self.shards} shard(s)" if self.shards is not None else ""
        rate = self.rows / seconds if seconds > 0 else 0.0
        print(
            f"{prefix}: {self.tasks}/{self.total_tasks} tasks{of}, {self.rows:,}{total} rows, "
            f"{rate:,.0f} rows/s, {seconds:,.1f} s",
            file=sys.stderr,
            flush=True,
        )

    def done(self, seconds: float) -> None:
        """The last plain line, with the time the scan summary gives (no line on a terminal,
        where the bar has shown it, or when progress is off)."""
        if self._bar is None and not self.quiet and self.tasks:
            self._line(seconds, "scan done")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
