"""QR invitation cards: page count, codes present, diacritics font embedded, bad input refused."""

from __future__ import annotations

import re
import zlib
from datetime import date

import pytest

from fieldwork.cards import CARDS_PER_PAGE, Card, CardOptions, render_cards
from storage.credentials import new_short_code, new_token

OPTS = CardOptions(bot_username="HailongLaiChauBot", zalo_name="Khảo sát Sở Nội vụ Lai Châu",
                   deadline=date(2025, 9, 30), hotline="0213 3876 543")


def _streams_text(pdf: bytes) -> str:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            out.append(m.group(1).decode("latin-1"))
    return "\n".join(out)


def _cards(n: int) -> list[Card]:
    return [Card(new_short_code(), new_token(), f"Bản Nà Khum {i}", "Xã Mường So", f"Xóm 2 · hộ số {i}")
            for i in range(n)]


@pytest.mark.parametrize("n,pages", [(1, 1), (8, 1), (9, 2), (17, 3)])
def test_page_count(n: int, pages: int, tmp_path) -> None:
    out = tmp_path / "cards.pdf"
    data = render_cards(_cards(n), OPTS, out)
    assert out.read_bytes() == data
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == pages
    assert pages == -(-n // CARDS_PER_PAGE)


def test_every_code_is_printed_and_font_embedded() -> None:
    cards = _cards(10)
    data = render_cards(cards, OPTS)
    text = _streams_text(data)
    for c in cards:
        assert f"(KS {c.code})" in text
    assert b"DejaVu" in data  # the TTF with Vietnamese diacritics is embedded
    # one QR image per card
    assert len(re.findall(rb"/Subtype\s*/Image", data)) == len(cards)


def test_bad_cards_refused() -> None:
    with pytest.raises(ValueError):
        render_cards([], OPTS)
    good = _cards(1)[0]
    for code in ("ABC0EF", "abcdef", "ABCDE", "ABCDEFGHJ", "ABCIEF"):
        with pytest.raises(ValueError, match="card 1"):
            render_cards([Card(code, good.token, "B", "X")], OPTS)
    with pytest.raises(ValueError):
        render_cards([Card(good.code, "bad token!", "B", "X")], OPTS)
