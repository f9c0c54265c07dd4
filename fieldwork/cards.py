"""Printable QR invitation cards (phiếu mời) for enumerators to hand out, as an A4 PDF.

Telegram cannot make first contact, so most citizens arrive through a paper card: the post-office
enumerator hands each sampled household its card; the citizen scans the QR code (a Telegram deep
link carrying the household's token) or types the short code into Zalo. Eight cards fit on one A4
sheet (2 × 4, each 97 × 70 mm) with cut lines and crop marks, so a village's cards print on a few
sheets and are cut with a guillotine.

What a card shows: the title, the organiser, the household's village and commune (so the
enumerator hands the right card to the right house), an optional addressee line chosen by the
caller (e.g. the sub-hamlet and list number), the QR code, the short code, the Zalo instruction,
the deadline and a hotline. Never the household head's phone number: the card travels by hand.

Fonts: DejaVu Sans, which ships inside matplotlib (``mpl-data/fonts/ttf``), covers every
Vietnamese letter with its tone marks. The short code itself is set in the PDF core font
Courier-Bold: it is pure ASCII, monospaced characters are easy to copy, and the code stays
searchable as plain text in the PDF.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import segno

from fieldwork.invites import telegram_link, zalo_instruction
from storage.credentials import format_code
from storage.private_files import open_private

__all__ = ["Card", "CardOptions", "CARDS_PER_PAGE", "render_cards", "dejavu_font_path"]

# Page geometry (mm): A4 portrait, 2 columns × 4 rows.
_PAGE_W, _PAGE_H = 210.0, 297.0
_COLS, _ROWS = 2, 4
CARDS_PER_PAGE = _COLS * _ROWS
_CARD_W, _CARD_H = 97.0, 70.0
_MARGIN_X = (_PAGE_W - _COLS * _CARD_W) / 2   # 8 mm
_MARGIN_Y = (_PAGE_H - _ROWS * _CARD_H) / 2   # 8.5 mm
_PAD = 4.0
_QR_SIZE = 33.0

_PRINTABLE_CODE = re.compile(r"^[A-HJKMNP-Z2-9]{6,8}$")

TITLE_VI = "Phiếu mời tham gia khảo sát sự hài lòng"


@dataclass(frozen=True, slots=True)
class Card:
    """One household's card. ``code`` is the short code without prefix; ``token`` the deep-link
    payload. ``addressee`` is a free line such as "Xóm 2 · hộ số 12" (the caller decides whether
    names appear; phones never do)."""

    code: str
    token: str
    village: str
    commune: str
    addressee: str | None = None


@dataclass(frozen=True, slots=True)
class CardOptions:
    """What is the same on every card of a round."""

    bot_username: str
    zalo_name: str
    deadline: date | datetime | str
    hotline: str
    organiser: str = "Sở Nội vụ tỉnh Lai Châu"
    title: str = TITLE_VI


def dejavu_font_path(bold: bool = False) -> Path:
    """The DejaVu Sans TTF bundled with matplotlib (no system font needed)."""
    # lazy: matplotlib adds ~0.4 s of import (python -X importtime); only cards need its font
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.exists():  # pragma: no cover - matplotlib always ships it
        raise FileNotFoundError(f"font not found: {path}")
    return path


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text or "")


def _fmt_deadline(deadline: date | datetime | str) -> str:
    if isinstance(deadline, datetime):
        return deadline.strftime("%d/%m/%Y")
    if isinstance(deadline, date):
        return deadline.strftime("%d/%m/%Y")
    return str(deadline)


def _qr_png(data: str) -> io.BytesIO:
    """A crisp PNG of the QR code: 10 px per module, so no viewer smoothing can blur it."""
    qr = segno.make(data, error="m", micro=False)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=10, border=2)
    buf.seek(0)
    return buf


@functools.cache
def _card_pdf() -> type:
    """The card sheet's ``FPDF`` subclass, made on first use: fpdf costs 0.4 s of import
    (python -X importtime) and every round, invites and status command imports this module."""
    from fpdf import FPDF

    class CardPDF(FPDF):
        def __init__(self) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.set_auto_page_break(False)
            self.set_margins(0, 0, 0)
            self.add_font("DejaVu", "", str(dejavu_font_path(False)))
            self.add_font("DejaVu", "B", str(dejavu_font_path(True)))

        def cut_marks(self) -> None:
            """Light dashed cut lines between cards and crop marks in the page margin."""
            x0, y0 = _MARGIN_X, _MARGIN_Y
            x1, y1 = x0 + _COLS * _CARD_W, y0 + _ROWS * _CARD_H
            self.set_draw_color(170, 170, 170)
            self.set_line_width(0.15)
            with self.local_context():
                self.set_dash_pattern(dash=1.5, gap=1.5)
                for c in range(_COLS + 1):
                    x = x0 + c * _CARD_W
                    self.line(x, y0, x, y1)
                for r in range(_ROWS + 1):
                    y = y0 + r * _CARD_H
                    self.line(x0, y, x1, y)
            self.set_draw_color(0, 0, 0)
            self.set_line_width(0.25)
            mark = min(_MARGIN_X, _MARGIN_Y) - 2.0
            for c in range(_COLS + 1):
                x = x0 + c * _CARD_W
                self.line(x, y0 - 1 - mark, x, y0 - 1)
                self.line(x, y1 + 1, x, y1 + 1 + mark)
            for r in range(_ROWS + 1):
                y = y0 + r * _CARD_H
                self.line(x0 - 1 - mark, y, x0 - 1, y)
                self.line(x1 + 1, y, x1 + 1 + mark, y)

        def card(self, x: float, y: float, card: Card, opts: CardOptions, deadline: str) -> None:
            inner_w = _CARD_W - 2 * _PAD
            cx = x + _PAD
            # Title and organiser, centred.
            self.set_text_color(0, 0, 0)
            self.set_font("DejaVu", "B", 9.5)
            self.set_xy(cx, y + _PAD)
            self.cell(inner_w, 4.6, _nfc(opts.title), align="C")
            self.set_font("DejaVu", "", 7)
            self.set_xy(cx, y + _PAD + 4.6)
            self.cell(inner_w, 3.4, _nfc(opts.organiser), align="C")
            top = y + _PAD + 9.0
            # QR on the left.
            link = telegram_link(opts.bot_username, card.token)
            self.image(_qr_png(link), x=cx, y=top, w=_QR_SIZE, h=_QR_SIZE)
            self.set_font("DejaVu", "", 6.2)
            self.set_xy(cx, top + _QR_SIZE + 0.3)
            self.multi_cell(_QR_SIZE, 2.7, "Quét mã QR bằng Telegram\nScan with Telegram", align="C")
            # Right column: where, the code, how, until when.
            rx = cx + _QR_SIZE + 3.0
            rw = x + _CARD_W - _PAD - rx
            self.set_xy(rx, top)
            self.set_font("DejaVu", "B", 9)
            self.multi_cell(rw, 4.0, _nfc(card.village), align="L")
            self.set_x(rx)
            self.set_font("DejaVu", "", 8)
            self.multi_cell(rw, 3.6, _nfc(card.commune), align="L")
            if card.addressee:
                self.set_x(rx)
                self.set_font("DejaVu", "", 7)
                self.multi_cell(rw, 3.2, _nfc(card.addressee), align="L")
            self.set_xy(rx, self.get_y() + 1.2)
            self.set_font("DejaVu", "", 7)
            self.cell(rw, 3.2, "Mã khảo sát / Survey code:")
            self.set_xy(rx, self.get_y() + 3.4)
            self.set_font("Courier", "B", 15)
            self.set_fill_color(238, 238, 238)
            self.cell(rw, 7.0, format_code(card.code), align="C", fill=True)
            self.set_xy(rx, self.get_y() + 7.6)
            self.set_font("DejaVu", "", 7)
            self.multi_cell(rw, 3.1, _nfc(zalo_instruction(card.code, opts.zalo_name)), align="L")
            self.set_x(rx)
            self.set_font("DejaVu", "", 6.2)
            self.set_text_color(70, 70, 70)
            self.multi_cell(rw, 2.8, _nfc(zalo_instruction(card.code, opts.zalo_name, "en")), align="L")
            self.set_text_color(0, 0, 0)
            # Footer across the card: deadline and hotline.
            fy = y + _CARD_H - _PAD - 6.6
            self.set_xy(cx, fy)
            self.set_font("DejaVu", "B", 7.5)
            self.cell(inner_w, 3.3, f"Hạn trả lời / Deadline: {deadline}", align="L")
            self.set_xy(cx, fy + 3.3)
            self.set_font("DejaVu", "", 7)
            self.cell(inner_w, 3.3, _nfc(f"Đường dây hỗ trợ / Hotline: {opts.hotline}"), align="L")

    return CardPDF


def render_cards(cards: Sequence[Card], options: CardOptions, out: str | Path | None = None) -> bytes:
    """Lay ``cards`` out 8 per A4 page and return the PDF bytes (also written to ``out`` if given).

    Raises ValueError naming the card if a code is not a printable card code (6-8 upper-case
    letters and digits without the look-alikes 0 O 1 I L: the one scheme of ``storage.credentials``,
    which storage mints) or a link cannot be built: a wrong card must never be printed.
    """
    if not cards:
        raise ValueError("no cards to print / không có phiếu mời nào để in")
    for i, card in enumerate(cards, start=1):
        if not _PRINTABLE_CODE.match(card.code or ""):
            raise ValueError(f"card {i}: invalid short code {card.code!r}")
        telegram_link(options.bot_username, card.token)  # validates username and token
    deadline = _fmt_deadline(options.deadline)
    pdf = _card_pdf()()
    pdf.set_title(_nfc(options.title))
    pdf.set_author(_nfc(options.organiser))
    pdf.set_creator("hailong")
    for i, card in enumerate(cards):
        slot = i % CARDS_PER_PAGE
        if slot == 0:
            pdf.add_page()
            pdf.cut_marks()
        col, row = slot % _COLS, slot // _COLS
        pdf.card(_MARGIN_X + col * _CARD_W, _MARGIN_Y + row * _CARD_H, card, options, deadline)
    data = bytes(pdf.output())
    if out is not None:
        with open_private(out, "wb") as fh:  # a card is a credential: owner-only until printed
            fh.write(data)
    return data
