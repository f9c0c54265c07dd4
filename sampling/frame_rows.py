"""The rows of a sampling frame: administrative units, households, service users.

Pydantic models, one per list, with the cell parsers they validate with (yes/no cells, levels in
Vietnamese or English, admin types, Vietnamese mobile numbers). A module of its own because every
sampling stage and the CLI use the row types, while only :mod:`sampling.frames` reads files into
them; the file format and the cross-row checks are described in :mod:`sampling.frames`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from sampling.collation import name_key, normalize_name

__all__ = ["FrameRow", "HouseholdRow", "Level", "ServiceUserRow", "UnitRow", "normalize_phone"]

Level = Literal["province", "district", "commune", "village"]


# --------------------------------------------------------------------------------------------
# Value parsers (raise ValueError with a bilingual reason)
# --------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "y", "x", "có", "co", "c", "đúng", "dung", "v", "✓", "✔"}
_FALSE = {"", "0", "false", "no", "n", "không", "khong", "k", "sai", "-"}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = name_key(str(value or ""))
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(
        f"'{value}' không phải có/không (1/0, x) / '{value}' is not a yes/no value (1/0, x)"
    )


_LEVELS: dict[str, str] = {
    "province": "province", "tỉnh": "province", "tinh": "province",
    "district": "district", "huyện": "district", "huyen": "district", "thành phố": "district",
    "thị xã": "district",
    "commune": "commune", "xã": "commune", "xa": "commune", "phường": "commune",
    "thị trấn": "commune", "ward": "commune", "town": "commune",
    "village": "village", "bản": "village", "ban": "village", "thôn": "village",
    "tổ dân phố": "village", "khu phố": "village", "xóm": "village", "hamlet": "village",
}

_TYPES: dict[str, str] = {
    "i": "I", "1": "I", "loại i": "I", "loại 1": "I",
    "ii": "II", "2": "II", "loại ii": "II", "loại 2": "II",
    "iii": "III", "3": "III", "loại iii": "III", "loại 3": "III",
}


def normalize_phone(value: str) -> str:
    """A Vietnamese mobile number in E.164 (``+84…``), or ValueError.

    Accepts spaces, dots and dashes, the ``0`` trunk prefix, ``84``/``+84``, and a number that
    lost its leading 0 because a spreadsheet stored it as a number (9 digits starting 3/5/7/8/9).
    """
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    elif len(digits) == 9 and digits[:1] in "35789":
        digits = "0" + digits
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise ValueError(
            f"'{value}' không phải số di động Việt Nam (10 số, bắt đầu 03/05/07/08/09) / "
            f"'{value}' is not a Vietnamese mobile number (10 digits starting 03/05/07/08/09)"
        )
    return "+84" + digits[1:]


# --------------------------------------------------------------------------------------------
# Row models
# --------------------------------------------------------------------------------------------


class FrameRow(BaseModel):
    """A frame row: frozen, no unknown fields, text stripped; ``origin`` says where it was read."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    origin: str = ""  # "file:row", for messages; not data


def _required_text(v: Any) -> str:
    """A required text cell; spreadsheets turn codes like 12 into 12.0, so those come back as "12"."""
    if isinstance(v, float) and v.is_integer():
        v = str(int(v))
    text = _opt_text(v)
    if not text:
        raise ValueError("thiếu giá trị bắt buộc / required value missing")
    return text


def _contact_text(v: Any) -> str | None:
    """A contact cell as typed: spreadsheets turn 912345678 into 912345678.0; blank means none."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = str(int(v))
    return str(v).strip() or None


def _chat_id(v: Any, patterns: tuple[str, ...], reason: str) -> str | None:
    """A chat id cell (Telegram, Zalo): blank is none, else it must match one of ``patterns``;
    ``reason`` says why not, with the cell as ``{text}``."""
    text = _contact_text(v)
    if text is None or any(re.fullmatch(p, text) for p in patterns):
        return text
    raise ValueError(reason.format(text=text))


def _opt_text(value: Any) -> str | None:
    if value is None:
        return None
    text = normalize_name(str(value))
    return text or None


#: Text cell types, one parser each (declared once here rather than as a validator per model and
#: field). A unit's code and name are required without the float repair (its own validator).
RequiredText = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[str | None, BeforeValidator(_opt_text)]
BlankText = Annotated[str, BeforeValidator(lambda v: _opt_text(v) or "")]


class UnitRow(FrameRow):
    """One administrative unit: province, district/city, commune/ward/town, village/residential group."""

    code: str
    name: str
    level: Level
    parent_code: OptionalText = None
    kind: OptionalText = None
    admin_type: Literal["I", "II", "III"] | None = None
    admin_centre: bool = False
    commune_hq: bool = False
    sort_number: int | None = None
    neighbour_order: int | None = None
    national_survey: bool = False
    source: OptionalText = None

    @field_validator("code", "name", mode="before")
    @classmethod
    def _required_text(cls, v: Any) -> str:
        text = _opt_text(v)
        if not text:
            raise ValueError("thiếu giá trị bắt buộc / required value missing")
        return text

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> str:
        text = name_key(str(v or ""))
        if not text:
            raise ValueError("thiếu giá trị bắt buộc / required value missing")
        if text not in _LEVELS:
            raise ValueError(
                f"cấp '{v}' không hợp lệ (tỉnh/huyện/xã/bản) / "
                f"level '{v}' is not one of province, district, commune, village"
            )
        return _LEVELS[text]

    @field_validator("admin_type", mode="before")
    @classmethod
    def _admin_type(cls, v: Any) -> str | None:
        text = name_key(str(v if v is not None else ""))
        if not text:
            return None
        if text not in _TYPES:
            raise ValueError(
                f"loại đơn vị hành chính '{v}' không hợp lệ (I, II, III) / "
                f"administrative type '{v}' is not I, II or III"
            )
        return _TYPES[text]

    @field_validator("admin_centre", "commune_hq", "national_survey", mode="before")
    @classmethod
    def _bool(cls, v: Any) -> bool:
        return _parse_bool(v)

    @field_validator("sort_number", "neighbour_order", mode="before")
    @classmethod
    def _int(cls, v: Any) -> int | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, float) and v.is_integer():
            return int(v)
        try:
            return int(str(v).strip())
        except ValueError:
            raise ValueError(f"'{v}' không phải số nguyên / '{v}' is not a whole number") from None

    @property
    def display_name(self) -> str:
        """Name with its kind, as in official lists ("Phường Tân Phong", "Bản Nà Lại")."""
        if self.kind and not name_key(self.name).startswith(name_key(self.kind)):
            return f"{self.kind[:1].upper()}{self.kind[1:]} {self.name}"
        return self.name


class _ContactMixin(FrameRow):
    phone: str | None = None
    telegram_id: str | None = None
    zalo_id: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, v: Any) -> str | None:
        text = _contact_text(v)
        return normalize_phone(text) if text else None

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _telegram(cls, v: Any) -> str | None:
        return _chat_id(v, (r"\d{3,20}", r"@[A-Za-z][A-Za-z0-9_]{4,31}"),
                        "'{text}' không phải mã Telegram (số) hay tên @username / "
                        "'{text}' is not a Telegram numeric id or @username")

    @field_validator("zalo_id", mode="before")
    @classmethod
    def _zalo(cls, v: Any) -> str | None:
        return _chat_id(v, (r"[0-9A-Za-z_.\-]{3,40}",),
                        "'{text}' không phải mã Zalo hợp lệ / '{text}' is not a valid Zalo id")


class HouseholdRow(_ContactMixin):
    """One household (hộ gia đình) of a village's list; the head represents the household."""

    household_id: RequiredText
    village_code: RequiredText
    head_name: RequiredText
    sub_hamlet: BlankText = ""


class ServiceUserRow(_ContactMixin):
    """A person or organisation that used an administrative service (2021 service survey).

    ``result_received``: whether they have received the result of their procedure (the 2021
    plan surveys only those who "đã trực tiếp giao dịch và nhận kết quả"); None when the list
    does not say.
    """

    user_id: RequiredText
    agency: RequiredText
    field: RequiredText
    name: RequiredText
    address: OptionalText = None
    result_received: bool | None = None

    @field_validator("result_received", mode="before")
    @classmethod
    def _received(cls, v: Any) -> bool | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return _parse_bool(v)
