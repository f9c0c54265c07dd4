"""The report as a list of blocks, independent of its format.

``report_content.build_report`` fills a ``Report`` from an ``Analysis``; ``report`` renders it as
HTML and ``report_docx`` as a Word document, so both say the same thing with the same numbers.
Charts are kept as functions that draw a matplotlib figure, rendered to PNG once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

from matplotlib.figure import Figure

from analytics.report_charts import png


@dataclass
class Heading:
    level: int                      # 2 = section, 3 = subsection, 4 = component
    text: str
    anchor: str = ""


@dataclass
class Para:
    text: str
    kind: str = "p"                 # p | note | lead


@dataclass
class Headline:
    """The one number the report is about, with its interval, target verdict and change."""

    value: float
    text: str                       # "Chỉ số hài lòng chung: 82,42%"
    interval: str                   # "khoảng tin cậy 95%: 80,21–84,63%"
    verdict: str                    # met | not_met | unclear | no_data
    verdict_text: str
    change_text: str


@dataclass
class KeyFigures:
    items: list[tuple[str, str, str]]     # (label, value, detail)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    align: list[str]                # "l" | "r" per column
    caption: str = ""
    verdicts: list[str] | None = None     # per row: met | not_met | unclear | no_data (row marker)
    widths: list[float] | None = None     # relative column widths (Word)


@dataclass
class Chart:
    key: str
    title: str
    draw: Callable[[], Figure]
    alt: str = ""
    _png: bytes | None = field(default=None, repr=False)

    def png(self) -> bytes:
        if self._png is None:
            self._png = png(self.draw())
        return self._png


Block = Union[Heading, Para, Headline, KeyFigures, Table, Chart]


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Block]
    new_page: bool = True           # start on a new printed page


@dataclass
class Report:
    title: str
    subtitle: str
    round_code: str
    headline_value: float
    sections: list[Section]
    footer: str = ""

    def charts(self) -> list[Chart]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Chart)]

    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]
