"""The demo's last step: the round's purpose is done, so its personal data is purged, and the demo
shows that nothing the analysts use changed and that the purged values are gone from the file.

Before the purge: the names, phone numbers, Telegram/Zalo ids and chat ids the round holds are
collected (in memory, for the checks), the point indices (overall and by unit) and the public
raw-data table are computed. Then ``storage.purge.purge_round`` runs; after it the same indices
and table are computed again and compared, and the database file and its WAL are scanned byte by
byte for every collected value.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.analysis import analyse
from analytics.exports import raw_table
from analytics.load import load_round
from analytics.settings import AnalyticsSettings
from storage.purge import LABELS, purge_round


@dataclass
class PurgeCheck:
    """What the demo's purge did and what it proved."""

    counts: dict[str, int] = field(default_factory=dict)
    values_checked: int = 0
    values_found_after: int = 0
    indices_before: dict[str, float] = field(default_factory=dict)
    indices_after: dict[str, float] = field(default_factory=dict)
    raw_equal: bool = False
    wal_truncated: bool = False

    @property
    def unchanged(self) -> bool:
        return bool(self.indices_before) and self.indices_before == self.indices_after and self.raw_equal

    def summary(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "values_checked": self.values_checked,
                "values_found_after": self.values_found_after, "indices_unchanged": self.unchanged,
                "indices": len(self.indices_before), "wal_truncated": self.wal_truncated}


def personal_values(db_path: Path, round_code: str) -> frozenset[str]:
    """Every name, phone, platform id and chat id of the round (6 characters or more)."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rid = conn.execute("SELECT id FROM rounds WHERE code = ?", (round_code,)).fetchone()[0]
        values = [v for row in conn.execute(
            "SELECT c.name, c.phone, c.telegram_id, c.zalo_id, c.address FROM contacts AS c"
            " JOIN respondents AS p ON p.id = c.respondent_id WHERE p.round_id = ?", (rid,)) for v in row if v]
        values += [r[0] for r in conn.execute(
            "SELECT b.chat_id FROM chat_bindings AS b JOIN respondents AS p ON p.id = b.respondent_id"
            " WHERE p.round_id = ?", (rid,))]
    finally:
        conn.close()
    return frozenset(str(v) for v in values if len(str(v)) >= 6)


def _fingerprint(db_path: Path, round_code: str) -> tuple[dict[str, float], Any]:
    """Point indices (overall, pillars, components, every unit of every level) and the public raw table."""
    lr = load_round(db_path, round_code)
    a = analyse(lr.data, lr.survey, round_code, AnalyticsSettings(bootstrap_b=50), units=lr.units,
                dispositions=lr.dispositions, intervals=False)
    out = {"overall": float(a.overall.overall.iloc[0])}
    for c in a.overall.pillars.columns:
        out[f"pillar:{c}"] = float(a.overall.pillars[c].iloc[0])
    for c in a.overall.components.columns:
        out[f"component:{c}"] = float(a.overall.components[c].iloc[0])
    for level, t in a.levels.items():
        for key, v in zip(t.keys[f"{level}_id"], t.overall):
            out[f"{level}:{key}"] = round(float(v), 12)
    return out, raw_table(a)[0]


def _scan(db_path: Path, values: frozenset[str]) -> int:
    data = db_path.read_bytes()
    wal = Path(str(db_path) + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return sum(1 for v in values if v.encode("utf-8") in data)


def purge_and_verify(out: Console, db_path: Path, round_code: str) -> tuple[PurgeCheck, frozenset[str]]:
    """Purge the closed, re-checked round and prove the indices unchanged and the values gone.
    Returns the check and the values that were purged (for the tests that look for leaks)."""
    values = personal_values(db_path, round_code)
    before, raw_before = _fingerprint(db_path, round_code)
    rep = purge_round(str(db_path), round_code, actor="demo")
    after, raw_after = _fingerprint(db_path, round_code)
    check = PurgeCheck(counts=dict(rep.counts), values_checked=len(values), values_found_after=_scan(db_path, values),
                       indices_before=before, indices_after=after, raw_equal=raw_before.equals(raw_after),
                       wal_truncated=bool(rep.wal_truncated))
    t = Table(title="Đã xóa / purged", title_justify="left")
    t.add_column("Dữ liệu / data")
    t.add_column("Số dòng / rows", justify="right")
    for k, n in rep.counts.items():
        if n:
            t.add_row(LABELS.get(k, k), str(n))
    out.print(t)
    same = "[green]không đổi / unchanged[/]" if check.unchanged else "[bold red]ĐÃ THAY ĐỔI / CHANGED[/]"
    out.print(f"Chỉ số trước và sau khi xóa / indices before and after the purge: {len(before)} chỉ số / figures, "
              f"{same}; dữ liệu thô công khai / public raw data: "
              + ("[green]giống hệt / identical[/]" if check.raw_equal else "[bold red]khác / differs[/]"))
    found = check.values_found_after
    out.print(f"Quét tệp cơ sở dữ liệu (và WAL) tìm {check.values_checked} giá trị cá nhân đã xóa / scanned the "
              f"database file (and WAL) for {check.values_checked} purged personal values: "
              + (f"[green]không còn giá trị nào / none left[/]" if found == 0 else f"[bold red]còn {found} / {found} left[/]"))
    return check, values
