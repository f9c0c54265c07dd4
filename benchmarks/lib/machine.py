"""What every benchmark prints about the machine it ran on, so that a figure can be judged.

On a shared machine other processes slow a run down; the load average (runnable processes,
averaged over 1, 5 and 15 minutes) beside the CPU count says how busy the machine was, and
figures per CPU-second (process CPU time, not wall time) are the ones to compare across runs.
"""

from __future__ import annotations

import os
import resource
from typing import Any


def machine() -> dict[str, Any]:
    """Load averages and CPU count now (JSON-ready)."""
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2), "loadavg_15m": round(fifteen, 2),
            "cpus": os.cpu_count()}


def describe(m: dict[str, Any]) -> str:
    """One human line, e.g. ``machine: load 3.10 / 2.50 / 1.20 (1, 5, 15 min) on 2 CPUs``."""
    busy = m["loadavg_1m"] / max(1, m["cpus"] or 1)
    note = "busy: wall-clock figures are pessimistic, compare the CPU-second ones" if busy > 1 else "quiet"
    return (f"machine: load {m['loadavg_1m']:.2f} / {m['loadavg_5m']:.2f} / {m['loadavg_15m']:.2f} "
            f"(1, 5, 15 min) on {m['cpus']} CPUs: {note}")


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec``, so a child process
    started by a large parent would report the parent's size at the fork as its own peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
