"""What each staff role may do and see: the one place the console decides it.

Every handler names the permission it needs (``require``) and reads units only through the
request's :class:`Scope`; templates ask ``scope.can(...)`` to show or hide links. Roles:

- ``admin``: everything, in every unit: rounds, accounts, audit log, personal data.
- ``analyst`` (province analyst): progress, problems and results of every unit; never a name,
  phone number, chat id or card code (a card code is a credential: it claims the invitation).
- ``district`` / ``commune`` (officers): progress, problems, invite lists, cards and the re-check
  worklist of their unit and the units below it, with the households' contacts (they call them).
- ``enumerator``: the invite list (names and addresses, no phone) and cards of their units.

Citizens' chat ids are shown to nobody; staff chat ids only to admins (accounts page).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.staff import Account

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"progress", "problems", "results", "exports", "invites", "cards", "recheck",
                        "recheck_record", "recheck_draw", "rounds_manage", "accounts", "audit", "contacts",
                        "phones"}),
    "analyst": frozenset({"progress", "problems", "results", "exports"}),
    "district": frozenset({"progress", "problems", "results", "invites", "cards", "recheck", "recheck_record",
                           "contacts", "phones"}),
    "commune": frozenset({"progress", "problems", "results", "invites", "cards", "recheck", "recheck_record",
                          "contacts", "phones"}),
    "enumerator": frozenset({"invites", "cards", "contacts"}),
}
#: The first page after login, per role.
HOME: dict[str, str] = {"enumerator": "invites"}


class Forbidden(Exception):
    """The account may not do this, or not in this unit (answered 403)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """An account and the units it may see (``None``: every unit)."""

    account: Account
    units: frozenset[int] | None

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.account.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(permission)

    def sees_unit(self, unit_id: int | None) -> bool:
        return self.units is None or (unit_id is not None and unit_id in self.units)

    def require_unit(self, unit_id: int | None) -> None:
        if not self.sees_unit(unit_id):
            raise Forbidden(f"unit {unit_id}")

    @property
    def actor(self) -> str:
        """The audit log's name for this account's actions."""
        return f"web:{self.account.username}"
