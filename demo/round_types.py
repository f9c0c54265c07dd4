"""The whole-round demo's settings, result, clock and console helpers, shared by its steps.

A module of its own because every step of the demo (:mod:`demo.sample_step`,
:mod:`demo.fieldwork_steps`, :mod:`demo.results`, the bot in :mod:`demo.bot_stack`) uses these,
and :mod:`demo.round` (the story and the command line) imports the steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)


__all__ = ["DemoError", "DemoConfig", "DemoResult", "DemoClock", "print_step", "progress_bar"]


SURVEY_ID = "sipas-households"
PLAN_ID = "laichau-2025"
ROUND_CODE = "LC-2025-DEMO"
BOT_USERNAME = "hailong_laichau_bot"
ZALO_NAME = "Khảo sát hài lòng Lai Châu"
DEMO_HOTLINE = "0000 000 000 (số minh họa / demo)"
DB_NAME = "hailong-demo.db"
#: One demo second stands for this many seconds of the round (answer times look human in the
#: paradata; the reminder jump of a day is added on top).
TIME_SCALE = 80.0


class DemoError(Exception):
    """The demo cannot run as asked (bilingual message, shown without a traceback)."""


@dataclass(frozen=True)
class DemoConfig:
    """Size and knobs of a demo run. ``communes=None`` picks a number that suits ``citizens``."""

    out_dir: Path = Path("demo-output")
    citizens: int = 300
    communes: int | None = None
    seed: int = 2025
    bootstrap: int = 1000
    timeout: float = 45.0
    mix: dict[str, float] | None = None
    zalo_pollers: int = 16
    bot_process: bool = True        # the bot in a child process (two cores), else in this one

    @classmethod
    def quick(cls, **kw: Any) -> "DemoConfig":
        """A small run (about 60 citizens, fewer bootstrap replicates) for a first look or CI."""
        base: dict[str, Any] = {"citizens": 60, "bootstrap": 300}
        base.update(kw)
        return cls(**base)


@dataclass
class DemoResult:
    """What a run produced: paths, the headline figures and the fieldwork counts."""

    out_dir: Path
    db_path: Path
    report_path: Path
    cards_path: Path
    exports: dict[str, list[Path]]
    round_code: str
    subset: str
    target: float
    overall: float
    overall_lo: float
    overall_hi: float
    n_responses: int
    pillars: dict[str, float]
    components: dict[str, float]
    weakest: list[tuple[str, float]]
    communes: list[tuple[str, int, float, float, float]]   # name, n, index, lo, hi
    dispositions: dict[str, int]
    rates: dict[str, float | None]
    channels: dict[str, dict[str, int]]
    personas: dict[str, dict[str, int]]
    recheck: dict[str, int]
    excluded: dict[str, int]
    reasons: list[str]
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    privacy: dict[str, Any] = field(default_factory=dict)         # the purge step (demo/privacy.py)
    purged_values: frozenset[str] = frozenset()   # in memory only: what the leak tests look for

    def numbers(self) -> dict[str, Any]:
        """Every seeded figure (no path, no timing): two runs with the same seed give equal dicts."""
        return {"overall": round(self.overall, 9), "lo": round(self.overall_lo, 9),
                "hi": round(self.overall_hi, 9), "n": self.n_responses,
                "pillars": {k: round(v, 9) for k, v in self.pillars.items()},
                "components": {k: round(v, 9) for k, v in self.components.items()},
                "weakest": [(k, round(v, 9)) for k, v in self.weakest],
                "communes": [(c[0], c[1], round(c[2], 9)) for c in self.communes],
                "dispositions": dict(self.dispositions),
                "rates": {k: None if v is None else round(v, 9) for k, v in self.rates.items()},
                "channels": self.channels, "personas": self.personas, "recheck": self.recheck,
                "excluded": self.excluded}


class DemoClock:
    """Wall-clock seconds for the bot and storage, running ``scale`` times faster than real time,
    that the reminder step can move forward ("a day later") without waiting a day.

    Built from (``t0``, ``m0``) so that the bot process and the orchestrator share one time line
    (``time.monotonic`` is system-wide); ``offset`` is what the reminder step moves.
    """

    def __init__(self, scale: float = TIME_SCALE, t0: float | None = None, m0: float | None = None,
                 offset: float = 0.0) -> None:
        self.scale = scale
        self.t0 = time.time() if t0 is None else t0
        self.m0 = time.monotonic() if m0 is None else m0
        self.offset = offset

    def __call__(self) -> float:
        return self.t0 + (time.monotonic() - self.m0) * self.scale + self.offset

    def advance_to(self, at: float) -> None:
        """Jump forward to ``at`` (never backward)."""
        now = self()
        if at > now:
            self.offset += at - now

    def spec(self) -> dict[str, float]:
        return {"scale": self.scale, "t0": self.t0, "m0": self.m0, "offset": self.offset}


def print_step(out: Console, n: int, title: str) -> None:
    out.print()
    out.rule(f"[bold cyan]{n}. {title}[/]", align="left")


def progress_bar(out: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=out, transient=False)
