"""Reminder policy with a controllable clock: quiet hours, limits, stops, targeting."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fieldwork.reminders import (
    ReminderKind,
    ReminderPolicy,
    RespondentReminderState as S,
    due_reminders,
    in_quiet_hours,
    next_reminder,
    plan_reminders,
    reminder_text,
    shift_out_of_quiet,
)
from fieldwork.dispositions import Disposition as D

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VN)


POLICY = ReminderPolicy(after_days=(1, 3), max_reminders=2, closes_at=vn(2025, 9, 30, 17))


def test_quiet_hours_window() -> None:
    assert in_quiet_hours(vn(2025, 9, 1, 21, 0), POLICY)
    assert in_quiet_hours(vn(2025, 9, 1, 23, 59), POLICY)
    assert in_quiet_hours(vn(2025, 9, 2, 6, 59), POLICY)
    assert not in_quiet_hours(vn(2025, 9, 2, 7, 0), POLICY)
    assert not in_quiet_hours(vn(2025, 9, 1, 20, 59), POLICY)
    # 22:30 local is moved to 07:00 the next morning; 05:00 to 07:00 the same morning
    assert shift_out_of_quiet(vn(2025, 9, 1, 22, 30), POLICY) == vn(2025, 9, 2, 7)
    assert shift_out_of_quiet(vn(2025, 9, 2, 5, 0), POLICY) == vn(2025, 9, 2, 7)
    assert shift_out_of_quiet(vn(2025, 9, 2, 12, 0), POLICY) == vn(2025, 9, 2, 12)


def test_first_reminder_one_day_after_invite() -> None:
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10))
    assert due_reminders(vn(2025, 9, 2, 9, 59), POLICY, [s]) == []
    [r] = due_reminders(vn(2025, 9, 2, 10), POLICY, [s])
    assert (r.respondent_id, r.number, r.kind) == (1, 1, ReminderKind.NOT_STARTED)
    assert r.dedupe_key == "reminder:1:1"


def test_due_in_quiet_hours_moves_to_seven() -> None:
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 22, 15))  # +1 day = 22:15, quiet
    assert next_reminder(POLICY, s).due_at == vn(2025, 9, 3, 7)
    assert due_reminders(vn(2025, 9, 2, 23), POLICY, [s]) == []
    assert due_reminders(vn(2025, 9, 3, 6, 59), POLICY, [s]) == []
    assert len(due_reminders(vn(2025, 9, 3, 7), POLICY, [s])) == 1


def test_nothing_is_due_during_quiet_hours_even_if_overdue() -> None:
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10))
    assert due_reminders(vn(2025, 9, 4, 2), POLICY, [s]) == []


def test_limit_and_second_reminder_from_invite() -> None:
    s1 = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10), reminders_sent=1, last_reminder_at=vn(2025, 9, 2, 10))
    assert next_reminder(POLICY, s1).due_at == vn(2025, 9, 4, 10)
    assert next_reminder(POLICY, s1).number == 2
    s2 = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10), reminders_sent=2, last_reminder_at=vn(2025, 9, 4, 10))
    assert next_reminder(POLICY, s2) is None
    assert due_reminders(vn(2025, 9, 20, 10), POLICY, [s2]) == []


def test_min_gap_after_downtime() -> None:
    # reminder 1 went out late, at day 5; reminder 2 (day 3) is overdue but waits 12 h
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10), reminders_sent=1, last_reminder_at=vn(2025, 9, 6, 8))
    assert next_reminder(POLICY, s).due_at == vn(2025, 9, 6, 20)


@pytest.mark.parametrize("disp", [D.COMPLETE, D.REFUSED, D.UNREACHABLE, D.INELIGIBLE, D.SUBSTITUTED,
                                  D.NOT_INVITED])
def test_final_dispositions_stop_reminders(disp: D) -> None:
    s = S(1, disp, invited_at=vn(2025, 9, 1, 10), last_activity_at=vn(2025, 9, 1, 11))
    assert next_reminder(POLICY, s) is None
    assert due_reminders(vn(2025, 9, 5, 10), POLICY, [s]) == []


def test_round_close_stops_reminders() -> None:
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 29, 18))  # +1 day = 30/9 18:00, after the 17:00 close
    assert next_reminder(POLICY, s) is None
    s2 = S(2, D.INVITED, invited_at=vn(2025, 9, 28, 10))
    assert due_reminders(vn(2025, 9, 30, 16), POLICY, [s2])
    assert due_reminders(vn(2025, 9, 30, 17), POLICY, [s2]) == []


def test_partial_targeted_from_last_activity() -> None:
    s = S(5, D.PARTIAL, invited_at=vn(2025, 9, 1, 10), last_activity_at=vn(2025, 9, 2, 15))
    r = next_reminder(POLICY, s)
    assert r.kind is ReminderKind.PARTIAL and r.due_at == vn(2025, 9, 3, 15)
    started = S(6, D.STARTED, invited_at=vn(2025, 9, 1, 10), last_activity_at=vn(2025, 9, 1, 12))
    opened = S(7, D.OPENED, invited_at=vn(2025, 9, 1, 10), last_activity_at=vn(2025, 9, 1, 12))
    due = due_reminders(vn(2025, 9, 3, 16), POLICY, [s, started, opened])
    kinds = {r.respondent_id: r.kind for r in due}
    assert kinds == {5: ReminderKind.PARTIAL, 6: ReminderKind.PARTIAL, 7: ReminderKind.NOT_STARTED}
    assert reminder_text(ReminderKind.PARTIAL, 1) != reminder_text(ReminderKind.NOT_STARTED, 1)
    assert "trả lời tiếp" in reminder_text("partial", 1)
    # on Zalo there are no buttons: the not-started reminder tells the card code to send
    zalo = reminder_text(ReminderKind.NOT_STARTED, 1, channel="zalo", code="KS 4F7K2QM")
    assert "Gửi mã KS 4F7K2QM để bắt đầu" in zalo and "Send the code KS 4F7K2QM" in zalo


def test_plan_shows_overdue_at_first_possible_moment() -> None:
    s = S(1, D.INVITED, invited_at=vn(2025, 9, 1, 10))
    [p] = plan_reminders(vn(2025, 9, 3, 23), POLICY, [s])
    assert p.due_at == vn(2025, 9, 4, 7)


def test_epoch_seconds_and_policy_from_mapping() -> None:
    inv = vn(2025, 9, 1, 10).timestamp()
    pol = ReminderPolicy.from_mapping({"after_days": [2], "quiet_hours": ["22:00", "06:00"]})
    assert pol.max_reminders == 1 and pol.quiet_start == time(22)
    r = next_reminder(pol, S(1, "invited", invited_at=inv))
    assert r.due_at == vn(2025, 9, 3, 10).astimezone(timezone.utc)
    with pytest.raises(ValueError):
        ReminderPolicy(after_days=(3, 1))
    with pytest.raises(ValueError):
        next_reminder(pol, S(1, "invited", invited_at=datetime(2025, 9, 1, 10)))
    assert r.due_at - vn(2025, 9, 1, 10) == timedelta(days=2)
