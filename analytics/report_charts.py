"""Charts of the report, drawn the way an analyst reads them.

Every function returns a matplotlib ``Figure`` (so tests can check its title, axis labels and
legend) sized for the text width of an A4 page (17 cm); ``png`` turns it into bytes for the HTML
and the Word report. Rules kept by every chart:

- a title, both axis labels and a legend (what each colour and line means);
- a ranking is coloured by *verdict*, not by point estimate: met (the whole 95% interval at or
  above the target), not met (the whole interval below) or cannot tell (the interval contains the
  target), each with its own marker so the chart also reads in black and white;
- the value axis starts near the lowest interval bound instead of squashing everything on 0–100,
  and numbers use the Vietnamese format (decimal comma);
- labels are wrapped, never overlapping, and a long list is made taller rather than denser.

DejaVu Sans ships with matplotlib and has every Vietnamese glyph.
"""

from __future__ import annotations

import io
import textwrap
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from analytics.numbers import vn_number  # noqa: E402

plt.rcParams["font.family"] = "DejaVu Sans"

WIDTH_IN = 6.7                                   # A4 text width (17 cm)
VERDICT_COLOURS = {"met": "#1b7837", "not_met": "#b2182b", "unclear": "#e08214", "no_data": "#8c8c8c"}
VERDICT_MARKERS = {"met": "o", "not_met": "s", "unclear": "D", "no_data": "x"}
VERDICT_LABELS = {"met": "Đạt chỉ tiêu (cả khoảng tin cậy ≥ chỉ tiêu)",
                  "not_met": "Chưa đạt (cả khoảng tin cậy < chỉ tiêu)",
                  "unclear": "Chưa khẳng định được (khoảng tin cậy chứa chỉ tiêu)",
                  "no_data": "Không có dữ liệu"}
TARGET_COLOUR = "#333333"


def png(fig: Figure, dpi: int = 130) -> bytes:
    """The figure as PNG bytes (then closed: a report draws dozens)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buf.getvalue()


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _legend_below(ax: "plt.Axes", fig_h: float, ncol: int, handles: list | None = None) -> None:
    """The legend under the x-axis label, whatever the figure's height (offset in inches)."""
    axes_h = max(0.6, fig_h * (ax.get_position().height))
    kw = {"handles": handles} if handles is not None else {}
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / axes_h), ncol=ncol, fontsize=8, frameon=False, **kw)


def _finish(ax: "plt.Axes", title: str, xlabel: str, ylabel: str) -> None:
    """What every chart carries: a title, both axis labels, Vietnamese tick numbers, no box."""
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(_wrap(title, 80), fontsize=10.5, loc="left")
    ax.tick_params(axis="x", labelsize=8.5)
    _vn_axis(ax)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _vn_axis(ax: "plt.Axes", axis: str = "x", digits: int = 0) -> None:
    fmt = FuncFormatter(lambda v, _pos: vn_number(float(v), digits))
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def ranking_chart(names: Sequence[str], values: Sequence[float], lo: Sequence[float], hi: Sequence[float],
                  status: Sequence[str], target: float | None, title: str,
                  xlabel: str = "Chỉ số hài lòng (%)", ylabel: str = "Đơn vị",
                  sort: bool = True, label_width: int = 34) -> Figure:
    """Dots with 95% interval bars, one row per unit (highest at the top), coloured and shaped by
    verdict against the target, the value printed at the right of each row."""
    v = np.asarray(values, dtype=float)
    lo_, hi_ = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    st = list(status)
    order = (np.argsort(np.where(np.isnan(v), -np.inf, v), kind="stable") if sort
             else np.arange(len(v))[::-1])
    n = len(v)
    lines = [_wrap(names[i], label_width) for i in order]
    row_h = 0.28 + 0.15 * max((s.count("\n") for s in lines), default=0)
    fig_h = max(2.0, row_h * n + 1.5)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, fig_h))
    finite = np.concatenate([x[~np.isnan(x)] for x in (v, lo_, hi_)] + [np.array([target or 100.0])])
    x_min = max(0.0, 5 * np.floor((float(finite.min()) - 3) / 5)) if finite.size else 0.0
    x_max = 100.0
    for y, i in enumerate(order):
        s = st[i] if st[i] in VERDICT_COLOURS else "no_data"
        if np.isnan(v[i]):
            ax.text(x_min + 0.5, y, "không có dữ liệu", va="center", fontsize=8.5, color=VERDICT_COLOURS["no_data"])
            continue
        c = VERDICT_COLOURS[s]
        if not (np.isnan(lo_[i]) or np.isnan(hi_[i])):
            ax.plot([lo_[i], hi_[i]], [y, y], color=c, lw=2.2, alpha=0.55, solid_capstyle="butt")
        ax.plot(v[i], y, VERDICT_MARKERS[s], color=c, ms=5.5)
        ax.text(1.01, y, vn_number(v[i]), transform=ax.get_yaxis_transform(), va="center", fontsize=8.5)
    ax.set_yticks(range(n), lines, fontsize=8.5)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(x_min, x_max)
    handles = []
    if target is not None:
        ax.axvline(target, color=TARGET_COLOUR, ls="--", lw=1)
        handles.append(Line2D([], [], color=TARGET_COLOUR, ls="--", lw=1, label=f"Chỉ tiêu {vn_number(target, 0)}%"))
    present = [s for s in ("met", "not_met", "unclear", "no_data") if s in st]
    handles += [Line2D([], [], color=VERDICT_COLOURS[s], marker=VERDICT_MARKERS[s], lw=2, alpha=0.8,
                       label=VERDICT_LABELS[s]) for s in present]
    handles.append(Line2D([], [], color="#555555", lw=2.2, alpha=0.55, label="Khoảng tin cậy 95%"))
    _legend_below(ax, fig_h, 2, handles)
    _finish(ax, title, xlabel, ylabel)
    ax.grid(axis="x", alpha=0.3)
    return fig


def stacked_shares_chart(rows: Sequence[str], options: Sequence[str], shares: np.ndarray, title: str,
                         xlabel: str = "Tỷ lệ người trả lời (%)", ylabel: str = "Nội dung") -> Figure:
    """100% stacked horizontal bars: one row per criterion, one segment per answer option (in the
    questionnaire's order), shares ≥ 7% printed inside their segment."""
    sh = np.nan_to_num(np.asarray(shares, dtype=float))
    n = len(rows)
    lines = [_wrap(r, 30) for r in rows]
    fig_h = max(1.9, 0.34 * n + 1.6)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, fig_h))
    left = np.zeros(n)
    colours = _share_colours(len(options))
    for j, opt in enumerate(options):
        ax.barh(range(n), sh[:, j], left=left, color=colours[j], label=_wrap(opt, 28), edgecolor="white", lw=0.5)
        for y in range(n):
            if sh[y, j] >= 7:
                dark = colours[j] in ("#b2182b", "#2166ac", "#053061")
                ax.text(left[y] + sh[y, j] / 2, y, vn_number(sh[y, j], 0), ha="center", va="center", fontsize=6.5,
                        color="white" if dark else "black")
        left += sh[:, j]
    ax.set_yticks(range(n), lines, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    _finish(ax, title, xlabel, ylabel)
    _legend_below(ax, fig_h, min(len(options), 4))
    return fig


def _share_colours(k: int) -> list[str]:
    """A diverging palette from "least" (red) to "most" (blue); a last "don't know" stays grey."""
    if k <= 1:
        return ["#2166ac"]
    if k == 2:                                   # yes / no: not a scale, no red for "yes"
        return ["#2166ac", "#bdbdbd"]
    base = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac", "#053061"]
    idx = np.linspace(0, len(base) - 1, k).round().astype(int)
    return [base[i] for i in idx]


def bar_shares_chart(labels: Sequence[str], shares: Sequence[float], title: str, series: str,
                     xlabel: str = "Tỷ lệ người trả lời (%)", ylabel: str = "Phương án") -> Figure:
    """Horizontal bars of the share choosing each option (largest at the top), value at the end."""
    v = np.nan_to_num(np.asarray(shares, dtype=float))
    order = np.argsort(v, kind="stable")
    n = len(v)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, max(1.8, 0.3 * n + 1.3)))
    ax.barh(range(n), v[order], color="#2166ac", label=series)
    for y, i in enumerate(order):
        ax.text(v[i] + 0.8, y, vn_number(v[i], 1), va="center", fontsize=7)
    ax.set_yticks(range(n), [_wrap(labels[i], 40) for i in order], fontsize=8.5)
    ax.set_xlim(0, min(100.0, max(10.0, float(v.max()) * 1.18 if n else 100.0)))
    _finish(ax, title, xlabel, ylabel)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


def rates_chart(names: Sequence[str], series: dict[str, Sequence[float]], title: str,
                xlabel: str = "Tỷ lệ (%)", ylabel: str = "Đơn vị") -> Figure:
    """Grouped horizontal bars of outcome rates (RR1, COOP1, …) per unit, in the given order."""
    n = len(names)
    k = len(series)
    fig_h = max(2.0, (0.18 * k + 0.12) * n + 1.4)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, fig_h))
    h = 0.8 / max(k, 1)
    colours = ["#2166ac", "#67a9cf", "#ef8a62", "#b2182b"]
    for j, (lbl, vals) in enumerate(series.items()):
        ys = np.arange(n) + (j - (k - 1) / 2) * h
        ax.barh(ys, np.nan_to_num(np.asarray(vals, dtype=float)), height=h, color=colours[j % 4], label=lbl)
    ax.set_yticks(range(n), [_wrap(x, 30) for x in names], fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    _finish(ax, title, xlabel, ylabel)
    _legend_below(ax, fig_h, min(k, 4))
    ax.grid(axis="x", alpha=0.3)
    return fig
