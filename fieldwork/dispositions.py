"""Final dispositions of sampled cases and AAPOR-style outcome rates.

Every sampled respondent (a household in 2024/2025, a service user in 2021) ends a round in exactly
one standard outcome (``Disposition``). Rates are then computed the way survey researchers expect,
following the American Association for Public Opinion Research, *Standard Definitions: Final
Dispositions of Case Codes and Outcome Rates for Surveys* (AAPOR, 10th ed., 2023), using its
disposition groups for internet surveys of specifically named persons:

=========================  =================  ====================================================
hailong disposition        AAPOR group        AAPOR code (web survey of named persons)
=========================  =================  ====================================================
``complete``               I  (interview)     1.1  complete
``partial``                P  (interview)     1.2  partial (at least the partial threshold answered)
``started``                R  (refusal)       2.12 break-off / implicit refusal: started, below
                                              the partial threshold
``opened``                 R  (refusal)       2.121 logged on (opened the bot), no item answered
``refused``                R  (refusal)       2.11 explicit refusal
``invited``                NC (non-contact)   2.20/2.27 invitation sent, nothing ever returned;
                                              the case is a listed, eligible household
``unreachable``            NC (non-contact)   2.20 could not be delivered to (Telegram 403, no
                                              usable contact, enumerator could not find them)
``substituted``            NC (non-contact)   replaced by another unit; AAPOR asks that replaced
                                              cases stay in the denominator as non-interviews
``not_invited``            UH (unknown)       3.11 not attempted
``ineligible``             NE (not eligible)  4.10 e.g. no adult, cannot read or write, moved away
=========================  =================  ====================================================

Why the household frame puts "invited, nothing returned" in NC rather than UH: the lists are built
by the commune and each listed household is eligible by construction, so the only unknown is
contact. ``started`` is a break-off only at the end of fieldwork; during the round it is simply
in progress, but the rates are the same function either way so interim and final figures agree.

Rates (AAPOR formulas; ``e`` = estimated share of UH cases that are eligible):

* RR1 = I / ((I+P) + (R+NC+O) + (UH+UO))               minimum response rate
* RR2 = (I+P) / ((I+P) + (R+NC+O) + (UH+UO))           partials count as respondents
* RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO))
* COOP1 = I / ((I+P) + R + O);  COOP2 = (I+P) / ((I+P) + R + O)
* REF1 = R / ((I+P) + (R+NC+O) + (UH+UO))
* CON1 = ((I+P) + R + O) / ((I+P) + R + O + NC + (UH+UO))

A rate whose denominator is zero is ``None`` (shown as "—"), never a division error or a fake 0.
Everything here is pure: counts in, rates out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AAPOR_GROUP",
    "Disposition",
    "DispositionCounts",
    "Rates",
    "counts_by",
    "disposition_from_status",
    "rates",
    "rates_by",
    "LABELS_VI",
]


class Disposition(StrEnum):
    """Standard outcome of one sampled case (values are stable strings for storage and exports)."""

    NOT_INVITED = "not_invited"
    INVITED = "invited"
    OPENED = "opened"
    STARTED = "started"
    PARTIAL = "partial"
    COMPLETE = "complete"
    REFUSED = "refused"
    INELIGIBLE = "ineligible"
    UNREACHABLE = "unreachable"
    SUBSTITUTED = "substituted"


#: AAPOR group of each disposition: I, P, R, NC, O, UH, UO, NE.
AAPOR_GROUP: dict[Disposition, str] = {
    Disposition.COMPLETE: "I",
    Disposition.PARTIAL: "P",
    Disposition.STARTED: "R",
    Disposition.OPENED: "R",
    Disposition.REFUSED: "R",
    Disposition.INVITED: "NC",
    Disposition.UNREACHABLE: "NC",
    Disposition.SUBSTITUTED: "NC",
    Disposition.NOT_INVITED: "UH",
    Disposition.INELIGIBLE: "NE",
}

LABELS_VI: dict[Disposition, str] = {
    Disposition.NOT_INVITED: "Chưa mời",
    Disposition.INVITED: "Đã mời",
    Disposition.OPENED: "Đã mở",
    Disposition.STARTED: "Đã bắt đầu",
    Disposition.PARTIAL: "Trả lời một phần",
    Disposition.COMPLETE: "Hoàn thành",
    Disposition.REFUSED: "Từ chối",
    Disposition.INELIGIBLE: "Không đủ điều kiện",
    Disposition.UNREACHABLE: "Không liên lạc được",
    Disposition.SUBSTITUTED: "Đã thay thế",
}

# Status words used by storage and channels, mapped to dispositions. Several synonyms are accepted
# so that a status vocabulary change in one module cannot silently drop cases from the rates.
_STATUS_MAP: dict[str, Disposition] = {
    "sampled": Disposition.NOT_INVITED,
    "selected": Disposition.NOT_INVITED,
    "not_invited": Disposition.NOT_INVITED,
    "new": Disposition.NOT_INVITED,
    "invited": Disposition.INVITED,
    "sent": Disposition.INVITED,
    "delivered": Disposition.INVITED,
    "opened": Disposition.OPENED,
    "claimed": Disposition.OPENED,
    "started": Disposition.STARTED,
    "active": Disposition.STARTED,
    "in_progress": Disposition.STARTED,
    "paused": Disposition.STARTED,
    "partial": Disposition.PARTIAL,
    "complete": Disposition.COMPLETE,
    "completed": Disposition.COMPLETE,
    "submitted": Disposition.COMPLETE,
    "refused": Disposition.REFUSED,
    "withdrawn": Disposition.REFUSED,
    "stopped": Disposition.REFUSED,
    "ineligible": Disposition.INELIGIBLE,
    "unreachable": Disposition.UNREACHABLE,
    "blocked": Disposition.UNREACHABLE,
    "substituted": Disposition.SUBSTITUTED,
    "replaced": Disposition.SUBSTITUTED,
}


def disposition_from_status(status: str, *, answered: int = 0, partial_threshold: int | None = None,
                            invited: bool | None = None) -> Disposition:
    """Map a respondent status (storage's word) to its standard disposition.

    ``answered`` (number of answered steps) and ``partial_threshold`` split a started response into
    ``started`` (break-off below the threshold) and ``partial`` (at or above it), as AAPOR asks
    each survey to define. ``invited=True`` turns a not-yet-invited status into ``invited`` when the
    invite is known from elsewhere (e.g. a card was handed out). Unknown statuses raise ValueError
    with the word, so a vocabulary drift is loud.
    """
    key = (status or "").strip().lower()
    try:
        disp = _STATUS_MAP[key]
    except KeyError:
        raise ValueError(f"unknown respondent status {status!r}") from None
    if disp is Disposition.NOT_INVITED and invited:
        disp = Disposition.INVITED
    if disp in (Disposition.STARTED, Disposition.PARTIAL) and partial_threshold is not None:
        disp = Disposition.PARTIAL if answered >= partial_threshold else Disposition.STARTED
    if disp is Disposition.OPENED and answered > 0:
        disp = (Disposition.PARTIAL if partial_threshold is not None and answered >= partial_threshold
                else Disposition.STARTED)
    return disp


@dataclass(frozen=True, slots=True)
class DispositionCounts:
    """How many cases ended in each disposition (a plain count vector, additive)."""

    counts: Mapping[Disposition, int] = field(default_factory=dict)

    @classmethod
    def of(cls, dispositions: Iterable[Disposition | str]) -> DispositionCounts:
        c: Counter[Disposition] = Counter(Disposition(d) for d in dispositions)
        return cls(dict(c))

    def __getitem__(self, d: Disposition | str) -> int:
        return int(self.counts.get(Disposition(d), 0))

    def __add__(self, other: DispositionCounts) -> DispositionCounts:
        c: Counter[Disposition] = Counter(self.counts)
        c.update(other.counts)
        return DispositionCounts(dict(c))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def group(self, name: str) -> int:
        """Sum of the AAPOR group ``name`` (I, P, R, NC, O, UH, UO, NE)."""
        return sum(n for d, n in self.counts.items() if AAPOR_GROUP[d] == name)


@dataclass(frozen=True, slots=True)
class Rates:
    """AAPOR outcome rates, each a share in [0, 1] or None when undefined (zero denominator)."""

    rr1: float | None
    rr2: float | None
    rr3: float | None
    coop1: float | None
    coop2: float | None
    ref1: float | None
    con1: float | None
    eligible_cases: int
    total_cases: int


def _div(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def rates(counts: DispositionCounts, e: float = 1.0) -> Rates:
    """The AAPOR rates for ``counts`` (see the module docstring for the formulas).

    ``e`` is the estimated eligibility share of unknown-eligibility cases, used by RR3 only; the
    default 1.0 makes RR3 equal RR1 (the conservative choice when nothing better is known).
    """
    if not 0.0 <= e <= 1.0:
        raise ValueError("e must be within [0, 1]")
    i, p, r = counts.group("I"), counts.group("P"), counts.group("R")
    nc, o = counts.group("NC"), counts.group("O")
    uh, uo = counts.group("UH"), counts.group("UO")
    known = (i + p) + (r + nc + o)
    all_ = known + (uh + uo)
    return Rates(
        rr1=_div(i, all_),
        rr2=_div(i + p, all_),
        rr3=_div(i, known + e * (uh + uo)),
        coop1=_div(i, (i + p) + r + o),
        coop2=_div(i + p, (i + p) + r + o),
        ref1=_div(r, all_),
        con1=_div((i + p) + r + o, (i + p) + r + o + nc + (uh + uo)),
        eligible_cases=known,
        total_cases=counts.total,
    )


def counts_by(rows: Iterable[tuple[Hashable, Disposition | str]]) -> dict[Hashable, DispositionCounts]:
    """Group ``(key, disposition)`` pairs (key = unit id, channel, …) into counts per key."""
    acc: dict[Hashable, Counter[Disposition]] = {}
    for key, d in rows:
        acc.setdefault(key, Counter())[Disposition(d)] += 1
    return {k: DispositionCounts(dict(v)) for k, v in acc.items()}


def rates_by(rows: Iterable[tuple[Hashable, Disposition | str]], e: float = 1.0) -> dict[Hashable, Rates]:
    """AAPOR rates per key (per unit, per channel) from ``(key, disposition)`` pairs."""
    return {k: rates(c, e) for k, c in counts_by(rows).items()}
