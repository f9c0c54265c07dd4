"""Charts for the report (matplotlib, Agg backend, DejaVu Sans: it ships with matplotlib and has
every Vietnamese glyph). Each function returns PNG bytes; nothing is shown on screen."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams["font.family"] = "DejaVu Sans"

_BLUE, _RED, _GREY = "#1f5fa8", "#c0392b", "#7f8c8d"


def _png(fig: "plt.Figure") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def index_dot_chart(names: Sequence[str], values: Sequence[float], lo: Sequence[float], hi: Sequence[float],
                    target: float | None, title: str, xlabel: str = "Chỉ số hài lòng (%)") -> bytes:
    """Horizontal dots with 95% interval bars, highest at the top, and the target line.

    Units with no data are listed with "không có dữ liệu" instead of silently vanishing.
    """
    v = np.asarray(values, dtype=float)
    l = np.asarray(lo, dtype=float)
    h = np.asarray(hi, dtype=float)
    order = np.argsort(np.where(np.isnan(v), -np.inf, v), kind="stable")
    n = len(v)
    fig, ax = plt.subplots(figsize=(8, max(2.2, 0.32 * n + 1.2)))
    ys = np.arange(n)
    for y, i in zip(ys, order):
        if np.isnan(v[i]):
            ax.text(0.01, y, "không có dữ liệu", va="center", color=_GREY, fontsize=8,
                    transform=ax.get_yaxis_transform())
            continue
        colour = _BLUE if target is None or v[i] >= target else _RED
        if not (np.isnan(l[i]) or np.isnan(h[i])):
            ax.plot([l[i], h[i]], [y, y], color=colour, alpha=0.5, lw=2)
        ax.plot(v[i], y, "o", color=colour)
    ax.set_yticks(ys, [str(names[i]) for i in order], fontsize=8)
    if target is not None:
        ax.axvline(target, color=_RED, ls="--", lw=1)
        ax.text(target, n - 0.4, f" Chỉ tiêu {target:g}%", color=_RED, fontsize=8, va="bottom")
    finite = np.concatenate([x[~np.isnan(x)] for x in (v, l, h)] + [np.array([target or 0])])
    lo_x = max(0.0, float(np.nanmin(finite)) - 5) if finite.size else 0.0
    ax.set_xlim(lo_x, 100)
    ax.set_ylim(-0.7, n - 0.3 + 0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def bar_chart(names: Sequence[str], values: Sequence[float], lo: Sequence[float] | None,
              hi: Sequence[float] | None, target: float | None, title: str) -> bytes:
    """Vertical bars (components) with interval whiskers and the target line."""
    v = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(v) + 2), 3.8))
    x = np.arange(len(v))
    colours = [_GREY if np.isnan(a) else (_BLUE if target is None or a >= target else _RED) for a in v]
    ax.bar(x, np.nan_to_num(v), color=colours, alpha=0.85)
    if lo is not None and hi is not None:
        l = np.asarray(lo, dtype=float)
        h = np.asarray(hi, dtype=float)
        ok = ~(np.isnan(v) | np.isnan(l) | np.isnan(h))
        ax.errorbar(x[ok], v[ok], yerr=[v[ok] - l[ok], h[ok] - v[ok]], fmt="none", ecolor="black", capsize=3, lw=1)
    for xi, a in zip(x, v):
        ax.text(xi, (0 if np.isnan(a) else a) + 1, "—" if np.isnan(a) else f"{a:.1f}", ha="center", fontsize=8)
    if target is not None:
        ax.axhline(target, color=_RED, ls="--", lw=1)
    ax.set_xticks(x, list(names), rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=11)
    return _png(fig)
