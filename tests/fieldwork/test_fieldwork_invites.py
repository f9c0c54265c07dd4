"""Invite credentials: token entropy/charset/length, short-code check character, normalisation."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldwork.invites import telegram_link, zalo_instruction, zalo_link
from storage.credentials import (
    CODE_ALPHABET,
    InviteError,
    check_character,
    format_code,
    is_valid_code,
    new_short_code,
    new_token,
    normalise_code,
)


def test_token_charset_length_and_entropy() -> None:
    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    for t in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", t)
        assert len(t) <= 64
        # base64url: 6 bits per character; at least 128 bits
        assert len(t) * 6 >= 128
    # every symbol of the 64-letter alphabet shows up: the token really uses the full charset
    assert len(set("".join(tokens))) == 64


def test_alphabet_has_no_ambiguous_characters() -> None:
    for ch in "01OIL":
        assert ch not in CODE_ALPHABET
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 31


@pytest.mark.parametrize("length", [6, 7, 8])
def test_short_codes_are_valid_and_sized(length: int) -> None:
    for _ in range(300):
        c = new_short_code(length)
        assert len(c) == length
        assert set(c) <= set(CODE_ALPHABET)
        assert is_valid_code(c)


def test_bad_length_refused() -> None:
    with pytest.raises(InviteError):
        new_short_code(5)
    with pytest.raises(InviteError):
        new_short_code(9)


def test_every_single_character_typo_is_caught() -> None:
    for _ in range(200):
        code = new_short_code()
        for i in range(len(code)):
            for ch in CODE_ALPHABET:
                if ch != code[i]:
                    typo = code[:i] + ch + code[i + 1:]
                    assert not is_valid_code(typo), (code, typo)


def test_every_adjacent_swap_is_caught() -> None:
    for _ in range(300):
        code = new_short_code()
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
                assert not is_valid_code(swapped)


def test_check_character_known_value() -> None:
    # sum(i*v_i) + 7*c == 0 mod 31, computed by hand for body "222222" (all values 0) -> c = 0 -> "2"
    assert check_character("222222") == "2"
    body = "34"  # values 1, 2: 1*1 + 2*2 = 5; 3*c = -5 = 26 mod 31; c = 26 * 21 mod 31 (3^-1 = 21) = 19
    assert check_character(body) == CODE_ALPHABET[19]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["", "ks ", "KS ", "Mã KS ", "mã ", "ma ks: ", "code "]),
       st.sampled_from(["lower", "upper"]), st.booleans())
def test_normalise_tolerates_prefix_case_and_spaces(prefix: str, case: str, dashed: bool) -> None:
    code = new_short_code()
    body = code[:3] + "-" + code[3:] if dashed else code
    text = prefix + (body.lower() if case == "lower" else body)
    assert normalise_code(text) == code
    assert normalise_code("  " + format_code(code) + " ") == code


def test_normalise_rejects_typos_and_junk() -> None:
    code = new_short_code()
    typo = code[:2] + ("A" if code[2] != "A" else "B") + code[3:]
    assert normalise_code(typo) is None
    for junk in ["", "   ", "xin chào", "KS", "12345678901234567890", "😀"]:
        assert normalise_code(junk) is None


def test_code_starting_with_ks_letters_is_found() -> None:
    body = "KS4F7K"
    code = body + check_character(body)
    assert normalise_code(code) == code
    assert normalise_code(format_code(code)) == code
    assert normalise_code("ks" + code.lower()) == code


def test_telegram_link() -> None:
    t = new_token()
    assert telegram_link("@HailongBot", t) == f"https://t.me/HailongBot?start={t}"
    with pytest.raises(InviteError):
        telegram_link("bad name", t)
    with pytest.raises(InviteError):
        telegram_link("HailongBot", "has space")
    with pytest.raises(InviteError):
        telegram_link("HailongBot", "x" * 65)


def test_zalo_texts() -> None:
    assert zalo_link("1234567") == "https://zalo.me/1234567"
    with pytest.raises(InviteError):
        zalo_link("")
    text = zalo_instruction("4F7K2QM", "Khảo sát Lai Châu")
    assert "Nhắn mã KS 4F7K2QM" in text.replace("Hoặc nhắn", "Nhắn")
    assert "KS 4F7K2QM" in zalo_instruction("4F7K2QM", "X", "en")


def test_short_code_space_is_large_enough() -> None:
    # 6 random characters from 31: ~29.7 bits, about 8.9e8 codes for a round of ~6 000 households
    assert 6 * math.log2(len(CODE_ALPHABET)) > 29
