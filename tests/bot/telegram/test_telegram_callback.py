"""Signed callback data (bot/telegram/callback.py): the precomputed signer is HMAC-SHA256, and
no junk, forged, re-spelled, copied or oversized data verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.telegram import callback as cb

KEY = b"k" * 40


@pytest.mark.parametrize("key", [b"", b"short", KEY, b"x" * 64, b"y" * 65, bytes(range(200))])
def test_signer_is_hmac_sha256(key: bytes) -> None:
    body = "v1|c|q_age|3|7|"
    want = hmac.new(key, f"42|{body}".encode(), hashlib.sha256).digest()[:9]
    assert cb.Signer(key).mac(42, body) == want


def test_round_trip_and_hostile_data() -> None:
    signer = cb.Signer(KEY)
    data = cb.encode(signer, 42, "c", "q_satisfaction", "4", 7)
    assert len(data.encode()) <= cb.MAX_BYTES
    assert cb.verify(signer, 42, data) == cb.Press("c", "q_satisfaction", "4", 7)
    assert cb.verify(signer, 43, data) is None                    # copied to another chat
    assert cb.verify(cb.Signer(b"other"), 42, data) is None       # another key
    body, sig = data[:-12], data[-12:]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert cb.verify(signer, 42, body + flipped) is None          # forged signature
    assert cb.verify(signer, 42, body.replace("|4|", "|5|") + sig) is None   # forged value
    respelled = sig.replace("-", "+").replace("_", "/")
    if respelled != sig:                                          # standard alphabet: refused
        assert cb.verify(signer, 42, body + respelled) is None
    for junk in (None, "", "|", "v1|c|a|b|1|", "v1|x|a|b|1|" + sig, "v2" + data[2:], data + "|x",
                 data[:-1], data + "A", "v1|c|a|b|-1|" + sig, "é" * 300, data * 5,
                 body + base64.urlsafe_b64encode(b"\0" * 9).decode()):
        assert cb.verify(signer, 42, junk) is None
    long_ref = cb.encode(signer, 42, "k", "x" * 80, "y" * 80, 10**6)
    press = cb.verify(signer, 42, long_ref)
    assert press is not None and cb.resolve(press.ref, ["x" * 80]) == "x" * 80
