"""Engine throughput: steps per second on full ``sipas-households`` walks (one core).

A walk is what a citizen sends from Start to submit: typed answers as people type them
(numbers, words without tone marks, multiple choice with "xong", one "quay lại"), produced by
the demo's scripted citizen and replayed here. Two figures, measured in the same run:

* ``steps_per_s``: the engine as shipped (survey compiled once per content hash, then reused).
* ``baseline_steps_per_s``: a naive engine that, like a straightforward implementation, re-validates
  the pydantic Survey and rebuilds the flattened step list and lookup tables on every step.

Every walk is timed on its own, in CPU time of this process (``time.process_time``), so that
other work on a shared machine does not count: the figure is the **median walk** in steps per
CPU-second (the best walk is printed beside it, and so is the earlier headline, the luckiest
batch in wall-clock time, for comparison with older runs). The machine's load is printed.

Target: a median of at least 50 000 steps per CPU-second, so that the engine is never the
bottleneck of a channel. The last stdout line is JSON: {"median_steps_per_cpu_s",
"baseline_median_steps_per_cpu_s", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lib.machine import describe, machine  # noqa: E402
import engine  # noqa: E402
from engine.compile import _build as build_compiled  # noqa: E402
from bot.console import scripted_lines  # noqa: E402
from engine.types import Input, Start, TypedText  # noqa: E402
from survey_defs.loader import get_survey  # noqa: E402
from survey_defs.schema import Survey  # noqa: E402

TARGET = 50_000


def walks(survey: Survey, n: int) -> list[list[Input]]:
    """``n`` different complete walks (different seeds: different answers and typing styles)."""
    out = []
    for seed in range(n):
        lines = scripted_lines(survey, seed=seed, style="mixed" if seed % 2 else "numbers")
        out.append([Start(), *(TypedText(x) for x in lines)])
    return out


def play(survey: Survey, inputs: list[Input]) -> int:
    st = engine.new_state(survey)
    for i, inp in enumerate(inputs):
        st = engine.step(survey, st, inp, float(i)).state
    assert st.status == "submitted", st.status
    return len(inputs)


def play_naive(raw: dict, inputs: list[Input]) -> int:
    """The naive variant: validate the definition and rebuild the step list on every step."""
    st = None
    for i, inp in enumerate(inputs):
        survey = Survey.model_validate(raw)
        compiled = build_compiled(survey)
        if st is None:
            st = engine.new_state(survey)
        st = engine.step_compiled(compiled, st, inp, float(i)).state
    assert st is not None and st.status == "submitted", st
    return len(inputs)


@dataclass
class Walks:
    """Per-walk rates of one variant: steps per CPU-second and per wall second."""

    cpu_rates: list[float]
    wall_rates: list[float]
    steps: int
    cpu_s: float

    @property
    def median(self) -> float:
        return statistics.median(self.cpu_rates)

    @property
    def best(self) -> float:
        return max(self.cpu_rates)

    @property
    def best_wall(self) -> float:
        return max(self.wall_rates)


def measure(fn: Callable[[], int], budget_s: float) -> Walks:
    """Run ``fn`` (one walk) repeatedly for ``budget_s`` of CPU time (at least 5 walks), timing
    every walk alone in CPU time and wall time."""
    out = Walks([], [], 0, 0.0)
    c_end = time.process_time() + budget_s
    while True:
        c0, t0 = time.process_time(), time.perf_counter()
        steps = fn()
        dc, dt = time.process_time() - c0, time.perf_counter() - t0
        out.steps += steps
        out.cpu_s += dc
        out.cpu_rates.append(steps / max(dc, 1e-9))
        out.wall_rates.append(steps / max(dt, 1e-9))
        if time.process_time() >= c_end and len(out.cpu_rates) >= 5:
            return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (CI)")
    args = ap.parse_args()
    budget = 0.5 if args.quick else 3.0
    survey = get_survey("sipas-households")
    raw = survey.model_dump(mode="json", by_alias=True)
    ws = walks(survey, 4 if args.quick else 16)
    per_walk = sum(len(w) for w in ws) / len(ws)
    engine.compile_survey(survey)  # warm: compile once, as a running bot does

    k = [0]

    def fast() -> int:
        k[0] += 1
        return play(survey, ws[k[0] % len(ws)])

    def naive() -> int:
        k[0] += 1
        return play_naive(raw, ws[k[0] % len(ws)])

    m0 = machine()
    fast_w = measure(fast, budget)
    base_w = measure(naive, budget / 2)
    m1 = machine()
    ratio = fast_w.median / base_w.median
    print(describe(m0))
    print(f"survey: sipas-households, {len(engine.compile_survey(survey).steps)} steps, "
          f"{per_walk:.0f} inputs per walk, {len(ws)} distinct walks; every walk timed alone, in CPU time")
    print(f"engine (compiled once):            median {fast_w.median:10,.0f} steps/CPU-s  "
          f"best {fast_w.best:10,.0f}  ({1e6 / fast_w.median:.1f} CPU-µs/step, {len(fast_w.cpu_rates)} walks)")
    print(f"baseline (re-validate+re-flatten): median {base_w.median:10,.0f} steps/CPU-s  "
          f"best {base_w.best:10,.0f}  ({len(base_w.cpu_rates)} walks)")
    print(f"earlier headline, best walk in wall time: engine {fast_w.best_wall:,.0f} steps/s, "
          f"baseline {base_w.best_wall:,.0f} (median walk in wall time: {statistics.median(fast_w.wall_rates):,.0f})")
    print(f"ratio of medians: {ratio:.0f}x   target median ≥ {TARGET:,} steps/CPU-s: "
          f"{'met' if fast_w.median >= TARGET else 'NOT met'}")
    print(describe(m1))
    print(json.dumps({"benchmark": "engine", "median_steps_per_cpu_s": round(fast_w.median),
                      "best_steps_per_cpu_s": round(fast_w.best),
                      "baseline_median_steps_per_cpu_s": round(base_w.median),
                      "baseline_best_steps_per_cpu_s": round(base_w.best),
                      "ratio": round(ratio, 1), "target_median_steps_per_cpu_s": TARGET,
                      "meets_target": fast_w.median >= TARGET,
                      "cpu_us_per_step_median": round(1e6 / fast_w.median, 2),
                      "walks": len(fast_w.cpu_rates), "baseline_walks": len(base_w.cpu_rates),
                      "earlier_headline_best_wall_steps_per_s": round(fast_w.best_wall),
                      "inputs_per_walk": round(per_walk), "machine_start": m0, "machine_end": m1}))


if __name__ == "__main__":
    main()
