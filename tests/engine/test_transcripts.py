"""Every transcript (tests/transcripts/*.yaml) played against the pure engine and the console
channel; the runner and the drivers live in tests/support/transcripts.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from support.transcripts import FILES, ConsoleDriver, EngineDriver, load_transcript, play


def test_there_are_transcripts() -> None:
    assert len(FILES) >= 6


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript_on_engine(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", True)
    play(load_transcript(path), EngineDriver())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript_on_console_channel(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", True)
    play(load_transcript(path), ConsoleDriver())
