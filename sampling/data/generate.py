"""Regenerate the demo frames of Lai Châu under ``sampling/data/`` (deterministic, fixed seed).

    python -m sampling.data.generate            # rewrite the shipped files
    python -m sampling.data.generate --out DIR  # write elsewhere (tests compare the bytes)

What is real and what is generated (the ``source`` column of every unit says which):

* ``seed-00N``: a name (and, where the seed gives it, the administrative type and the
  administrative-centre role) taken from the seed documents in ``shared/seeds``.
* ``known``: a real commune name of Lai Châu before the 2025 merger, from public lists as
  remembered by the author; the set may differ slightly from the official 2024 list, and the
  administrative types of these communes are invented (the seeds give few).
* ``nq-1670``: the 38 communes/wards after the merger of 1 July 2025, as established by Resolution
  1670/NQ-UBTVQH15 of the National Assembly Standing Committee (seed 001 names only the wards
  Tân Phong and Đoàn Kết).
* ``generated``: everything else — villages (bản, tổ dân phố), their HQ/neighbour/national-survey
  flags, households (names, sub-hamlets, contacts) and the 2021 service users. Phone numbers,
  Telegram and Zalo ids are fictitious.

Households are generated only in the amounts the plans need (about 30–60 per village in 2024,
50–85 in 2025, 100–150 in the wards), with roughly one village in eight short of its quota so
that the neighbour top-up rule is exercised.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from sampling.plan_schema import load_plan
from survey_defs.spreadsheet_safety import SafeDictWriter

HERE = Path(__file__).resolve().parent
SEED = 20240711

UNIT_COLUMNS = [
    "code", "name", "level", "parent_code", "kind", "admin_type", "admin_centre", "commune_hq",
    "sort_number", "neighbour_order", "national_survey", "source",
]
HOUSEHOLD_COLUMNS = ["household_id", "village_code", "head_name", "sub_hamlet", "phone",
                     "telegram_id", "zalo_id"]
SERVICE_COLUMNS = ["user_id", "agency", "field", "name", "address", "phone", "telegram_id",
                   "zalo_id", "result_received"]

# --------------------------------------------------------------------------------------------
# Districts and communes before the 2025 merger (2024 plan).
# (name, kind, admin_type, admin_centre, source)
# --------------------------------------------------------------------------------------------
_T = tuple[str, str, str, bool, str]


def _district(communes_i: list[str], communes_ii: list[str], town: str, town_type: str,
              seeded: dict[str, str]) -> list[_T]:
    out: list[_T] = [(town, "thị trấn", town_type, True, seeded.get(town, "known"))]
    out += [(n, "xã", "I", False, seeded.get(n, "known")) for n in communes_i]
    out += [(n, "xã", "II", False, seeded.get(n, "known")) for n in communes_ii]
    return out


DISTRICTS_2024: list[tuple[str, str, str, list[_T]]] = [
    ("LC-01", "Lai Châu", "thành phố", [
        ("Đoàn Kết", "phường", "I", False, "known"),
        ("Tân Phong", "phường", "I", False, "seed-003"),
        ("Đông Phong", "phường", "II", False, "known"),
        ("Quyết Tiến", "phường", "II", True, "seed-003"),
        ("Quyết Thắng", "phường", "III", False, "seed-003"),
        ("San Thàng", "xã", "III", False, "known"),
        ("Sùng Phài", "xã", "III", False, "known"),
    ]),
    ("LC-02", "Tam Đường", "huyện", _district(
        ["Bản Bo", "Bình Lư", "Sơn Bình"],
        ["Bản Giang", "Bản Hon", "Giang Ma", "Hồ Thầu", "Khun Há", "Nà Tăm", "Nùng Nàng",
         "Tả Lèng", "Thèn Sin"],
        "Tam Đường", "II", {"Bình Lư": "seed-003", "Tam Đường": "seed-003", "Bản Hon": "seed-003"})),
    ("LC-03", "Phong Thổ", "huyện", _district(
        ["Bản Lang", "Dào San", "Mường So", "Sin Suối Hồ"],
        ["Hoang Thèn", "Huổi Luông", "Khổng Lào", "Lản Nhì Thàng", "Ma Li Pho", "Mồ Sì San",
         "Mù Sang", "Nậm Xe", "Pa Vây Sử", "Sì Lở Lầu", "Tông Qua Lìn", "Vàng Ma Chải"],
        "Phong Thổ", "II", {"Dào San": "seed-003", "Phong Thổ": "seed-003", "Khổng Lào": "seed-003",
                            "Bản Lang": "seed-000", "Hoang Thèn": "seed-000"})),
    ("LC-04", "Sìn Hồ", "huyện", _district(
        ["Nậm Hăn", "Noong Hẻo", "Pa Tần", "Tủa Sín Chải"],
        ["Căn Co", "Chăn Nưa", "Hồng Thu", "Lả Nhì Thàng", "Làng Mô", "Ma Quai", "Nậm Cha",
         "Nậm Cuổi", "Nậm Mạ", "Nậm Tăm", "Pa Khóa", "Phăng Sô Lin", "Phìn Hồ", "Pu Sam Cáp",
         "Sà Dề Phìn", "Tả Ngảo", "Tả Phìn"],
        "Sìn Hồ", "II", {"Noong Hẻo": "seed-003", "Sìn Hồ": "seed-003", "Chăn Nưa": "seed-003",
                         "Nậm Hăn": "seed-000", "Căn Co": "seed-000"})),
    # Mường Tè: a single type-I commune (xã Mường Tè, per seed 003) exercises the
    # "list with one unit" rule; the district town has the same name as that commune.
    ("LC-05", "Mường Tè", "huyện", _district(
        ["Mường Tè"],
        ["Bum Nưa", "Bum Tở", "Ka Lăng", "Kan Hồ", "Mù Cả", "Nậm Khao", "Pa Ủ", "Pa Vệ Sử",
         "Tá Bạ", "Tà Tổng", "Thu Lũm", "Vàng San"],
        "Mường Tè", "II", {"Mường Tè": "seed-003", "Bum Tở": "seed-003"})),
    ("LC-06", "Than Uyên", "huyện", _district(
        ["Mường Cang", "Mường Kim", "Mường Than"],
        ["Hua Nà", "Khoen On", "Mường Mít", "Pha Mu", "Phúc Than", "Ta Gia", "Tà Hừa", "Tà Mung"],
        "Than Uyên", "II", {"Mường Kim": "seed-003", "Than Uyên": "seed-003", "Khoen On": "seed-003",
                            "Mường Cang": "seed-000", "Hua Nà": "seed-000"})),
    # Tân Uyên: the town is type I (seed 003) and the 2nd of the type-I list, which exercises the
    # "centre is also the 2nd" rule.
    ("LC-07", "Tân Uyên", "huyện", _district(
        ["Nậm Sỏ", "Thân Thuộc"],
        ["Hố Mít", "Mường Khoa", "Nậm Cần", "Pắc Ta", "Phúc Khoa", "Tà Mít", "Trung Đồng"],
        "Tân Uyên", "I", {"Tân Uyên": "seed-003", "Nậm Sỏ": "seed-003", "Nậm Cần": "seed-003"})),
    ("LC-08", "Nậm Nhùn", "huyện", _district(
        ["Hua Bum", "Nậm Ban"],
        ["Lê Lợi", "Mường Mô", "Nậm Chà", "Nậm Hàng", "Nậm Manh", "Nậm Pì", "Pú Đao", "Trung Chải"],
        "Nậm Nhùn", "II", {"Nậm Ban": "seed-003", "Nậm Nhùn": "seed-003", "Mường Mô": "seed-003",
                           "Hua Bum": "seed-000", "Lê Lợi": "seed-000"})),
]

# The 38 commune-level units from 1 July 2025 (Resolution 1670/NQ-UBTVQH15).
COMMUNES_2025: list[tuple[str, str, str]] = [
    ("Tân Phong", "phường", "seed-001"), ("Đoàn Kết", "phường", "seed-001"),
    *[(n, "xã", "nq-1670") for n in [
        "Mường Kim", "Khoen On", "Than Uyên", "Mường Than", "Pắc Ta", "Nậm Sỏ", "Tân Uyên",
        "Mường Khoa", "Bản Bo", "Bình Lư", "Tả Lèng", "Khun Há", "Sin Suối Hồ", "Phong Thổ",
        "Dào San", "Sì Lở Lầu", "Khổng Lào", "Tủa Sín Chải", "Sìn Hồ", "Hồng Thu", "Nậm Tăm",
        "Pu Sam Cáp", "Nậm Cuổi", "Nậm Mạ", "Lê Lợi", "Nậm Hàng", "Mường Mô", "Hua Bum",
        "Pa Tần", "Bum Nưa", "Bum Tở", "Mường Tè", "Thu Lũm", "Pa Ủ", "Mù Cả", "Tà Tổng",
    ]],
]

# --------------------------------------------------------------------------------------------
# Name pools
# --------------------------------------------------------------------------------------------
_PREFIXES = ["Nà", "Huổi", "Pá", "Nậm", "Phiêng", "Co", "Hua", "Pác", "Lả", "Sin", "Sì", "Tả",
             "Phìn", "Khau", "Noong", "Tà", "Na", "Pa", "Mào", "Chu", "Can", "Ngải", "Séo",
             "Giàng", "Thẳm", "Cang", "Bó", "Phai", "Ẳng", "Ít", "Đán", "Ô", "Ư", "Ơn", "Đông"]
_SUFFIXES = ["Lại", "Cưởm", "Bó", "Khem", "Ngoạng", "Hỏm", "Phát", "Luông", "Tông", "Chải",
             "Ván", "Hồ", "Thàng", "Pho", "Mít", "Sáng", "Lằn", "Cang", "Hon", "Đông", "Xá",
             "Mạ", "Tiên", "Coóng", "Sảng", "Dào", "Lìn", "Phìn", "Cuổi", "Pục", "Khương",
             "Nưa", "Tở", "Mu", "Sài", "Ún", "Nhì", "Chảy", "Hẻo", "Đeng"]
_GROUPS: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {
    # surnames, male middle names, female middle names, given names
    "thai": (["Lò", "Lường", "Tòng", "Cầm", "Điêu", "Quàng", "Vì", "Lù", "Hoàng"],
             ["Văn"], ["Thị"],
             ["Thắng", "Xuân", "Phong", "Chiến", "Sơn", "Hùng", "Thanh", "Ngọc", "Hoa", "Mai",
              "Pọm", "Ún", "Khăm", "Panh", "Ọn", "Xiêng", "Inh", "Bun", "Ẻn", "Ánh", "Duyên"]),
    "hmong": (["Giàng", "Vàng", "Sùng", "Lầu", "Thào", "Lý", "Hầu", "Mùa", "Chá", "Cứ"],
              ["A", "Seo", "Mí", "Chứ", "Văn"], ["Thị", "Thị", "Mỷ"],
              ["Páo", "Chư", "Lử", "Dơ", "Sử", "Pó", "Dế", "Chá", "Sính", "Vư", "Mỷ", "Dợ", "Súa",
               "Mai", "Sua", "Tú", "Vàng", "Chớ"]),
    "dao": (["Tẩn", "Phàn", "Chảo", "Lý", "Triệu", "Đặng"],
            ["Láo", "Văn", "A"], ["Mý", "Thị"],
            ["Lở", "Chiêu", "Chài", "San", "Phẩu", "Quẩy", "Mẩy", "Sành", "Kiềm", "Phú"]),
    "hanhi": (["Lò", "Pờ", "Chu", "Ly", "Phìn", "Sừ"],
              ["Xé", "Go", "A", "Văn"], ["Mé", "Thị"],
              ["Chừ", "Pa", "Xá", "Hừ", "Gò", "Xa", "Chà", "Sì", "Dì", "Kha"]),
    "kinh": (["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng", "Ngô",
              "Đinh", "Dương"],
             ["Văn", "Đức", "Minh", "Hữu", "Quang"], ["Thị", "Thu", "Ngọc", "Thanh"],
             ["Hùng", "Lan", "Hương", "Tuấn", "Dũng", "Hà", "Thủy", "Quang", "Long", "Nga",
              "Hải", "Bình", "Đông", "Tùng", "Thảo", "Ánh", "Yến", "Cường", "Quý", "Ước"]),
}
_MIX: dict[str, dict[str, int]] = {
    "urban": {"kinh": 6, "thai": 3, "hmong": 1},
    "Tam Đường": {"thai": 4, "hmong": 3, "dao": 2, "kinh": 1},
    "Phong Thổ": {"hmong": 4, "dao": 3, "thai": 2, "kinh": 1},
    "Sìn Hồ": {"hmong": 5, "dao": 2, "thai": 2, "kinh": 1},
    "Mường Tè": {"hanhi": 4, "hmong": 3, "thai": 2, "kinh": 1},
    "Than Uyên": {"thai": 6, "hmong": 2, "kinh": 2},
    "Tân Uyên": {"thai": 5, "hmong": 2, "kinh": 2, "dao": 1},
    "Nậm Nhùn": {"thai": 4, "hmong": 3, "hanhi": 2, "kinh": 1},
    "Lai Châu": {"kinh": 5, "thai": 3, "hmong": 2},
}
_TELCO = ["32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "70", "76", "77", "78",
          "79", "81", "82", "83", "84", "85", "86", "88", "89", "91", "94", "96", "97", "98"]


def _person(rng: random.Random, mix: dict[str, int]) -> str:
    group = rng.choices(list(mix), weights=list(mix.values()))[0]
    surnames, male_mid, female_mid, given = _GROUPS[group]
    mid = rng.choice(male_mid if rng.random() < 0.7 else female_mid)
    return f"{rng.choice(surnames)} {mid} {rng.choice(given)}"


def _contacts(rng: random.Random) -> tuple[str, str, str]:
    phone = f"0{rng.choice(_TELCO)}{rng.randrange(10**7):07d}" if rng.random() < 0.55 else ""
    telegram = str(rng.randrange(10**8, 8 * 10**9)) if rng.random() < 0.12 else ""
    zalo = str(rng.randrange(10**14, 10**16)) if rng.random() < 0.3 else ""
    return phone, telegram, zalo


def _village_names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
        if rng.random() < 0.05:
            name += " Mới"
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _sub_hamlets(rng: random.Random, village_kind: str, name: str) -> list[str]:
    if village_kind == "tổ dân phố":
        k = rng.choice([0, 0, 1, 2, 3])
        return [f"Phố {i}" for i in range(1, k + 1)]
    k = rng.choice([1, 2, 2, 3, 3, 4])
    if k == 1:
        return [""]
    style = rng.choice(["đội", "xóm", "điểm"])
    if style == "đội":
        return [f"Đội {i}" for i in range(1, k + 1)]
    if style == "xóm":
        return ["Xóm Trên", "Xóm Dưới", "Xóm Giữa", "Xóm Mới"][:k]
    return [f"Điểm bản {name} {i}" for i in range(1, k + 1)]


def _villages(rng: random.Random, commune_code: str, commune_kind: str, n: int,
              national_share: float = 0.0) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    if commune_kind == "phường":
        specs = [(f"Tổ dân phố số {i}", "tổ dân phố") for i in range(1, n + 1)]
    elif commune_kind == "thị trấn":
        k = max(2, n * 2 // 3)
        specs = [(f"Tổ dân phố số {i}", "tổ dân phố") for i in range(1, k + 1)]
        specs += [(nm, "bản") for nm in _village_names(rng, n - k, set())]
    else:
        specs = [(nm, "bản") for nm in _village_names(rng, n, set())]
    order = list(range(1, len(specs) + 1))
    rng.shuffle(order)
    hq = rng.randrange(len(specs))
    for i, (name, kind) in enumerate(specs):
        rows.append({
            "code": f"{commune_code}-{i + 1:02d}", "name": name, "level": "village",
            "parent_code": commune_code, "kind": kind, "admin_type": "", "admin_centre": "",
            "commune_hq": "1" if i == hq else "", "sort_number": "",
            "neighbour_order": str(order[i]),
            "national_survey": "1" if (i != hq and rng.random() < national_share) else "",
            "source": "generated",
        })
    return rows


def _households(rng: random.Random, village: dict[str, str], count: int,
                mix: dict[str, int]) -> list[dict[str, str]]:
    subs = _sub_hamlets(rng, village["kind"], village["name"]) or [""]
    weights = [rng.uniform(0.5, 2.0) for _ in subs]
    assignment = list(range(len(subs))) if count >= len(subs) else []
    assignment += rng.choices(range(len(subs)), weights=weights, k=count - len(assignment))
    rng.shuffle(assignment)
    out = []
    for i, s in enumerate(assignment):
        phone, telegram, zalo = _contacts(rng)
        out.append({
            "household_id": f"{village['code']}-{i + 1:03d}", "village_code": village["code"],
            "head_name": _person(rng, mix), "sub_hamlet": subs[s], "phone": phone,
            "telegram_id": telegram, "zalo_id": zalo,
        })
    return out


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = SafeDictWriter(fh, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def build_2024(out: Path) -> None:
    rng = random.Random(f"{SEED}:2024")
    units: list[dict[str, str]] = [{
        "code": "LC", "name": "Lai Châu", "level": "province", "parent_code": "", "kind": "tỉnh",
        "admin_type": "", "admin_centre": "", "commune_hq": "", "sort_number": "",
        "neighbour_order": "", "national_survey": "", "source": "seed-002"}]
    households: list[dict[str, str]] = []
    for dcode, dname, dkind, communes in DISTRICTS_2024:
        units.append({**units[0], "code": dcode, "name": dname, "level": "district",
                      "parent_code": "LC", "kind": dkind, "source": "seed-002"})
        mix = _MIX["Lai Châu"] if dkind == "thành phố" else _MIX[dname]
        for i, (cname, ckind, ctype, centre, source) in enumerate(communes):
            ccode = f"{dcode}-{i + 1:02d}"
            units.append({**units[0], "code": ccode, "name": cname, "level": "commune",
                          "parent_code": dcode, "kind": ckind, "admin_type": ctype,
                          "admin_centre": "1" if centre else "", "source": source})
            n_villages = rng.randint(4, 8) if ckind != "phường" else rng.randint(6, 10)
            cmix = _MIX["urban"] if ckind in ("phường", "thị trấn") else mix
            for v in _villages(rng, ccode, ckind, n_villages):
                units.append(v)
                short = rng.random() < 0.12
                count = rng.randint(12, 28) if short else rng.randint(32, 46)
                households += _households(rng, v, count, cmix)
    _write(out / "laichau-2024" / "units.csv", UNIT_COLUMNS, units)
    _write(out / "laichau-2024" / "households.csv", HOUSEHOLD_COLUMNS, households)


# The district a 2025 commune's namesake belonged to, for a plausible mix of ethnic groups.
_FORMER_DISTRICT: dict[str, str] = {
    c[0]: d[1] for d in DISTRICTS_2024 for c in d[3] if d[2] == "huyện"
}


def build_2025(out: Path) -> None:
    rng = random.Random(f"{SEED}:2025")
    units: list[dict[str, str]] = [{
        "code": "LC", "name": "Lai Châu", "level": "province", "parent_code": "", "kind": "tỉnh",
        "admin_type": "", "admin_centre": "", "commune_hq": "", "sort_number": "",
        "neighbour_order": "", "national_survey": "", "source": "seed-001"}]
    households: list[dict[str, str]] = []
    for i, (cname, ckind, source) in enumerate(COMMUNES_2025):
        ccode = f"LC25-{i + 1:02d}"
        units.append({**units[0], "code": ccode, "name": cname, "level": "commune",
                      "parent_code": "LC", "kind": ckind, "source": source})
        ward = ckind == "phường"
        n_villages = rng.randint(12, 16) if ward else rng.randint(7, 12)
        for v in _villages(rng, ccode, ckind, n_villages, national_share=0.1):
            units.append(v)
            short = rng.random() < (0.15 if ward else 0.12)
            if ward:
                count = rng.randint(60, 95) if short else rng.randint(102, 130)
            else:
                count = rng.randint(22, 45) if short else rng.randint(52, 72)
            mix = _MIX["urban"] if ward else _MIX[_FORMER_DISTRICT.get(cname, "Tam Đường")]
            households += _households(rng, v, count, mix)
    _write(out / "laichau-2025" / "units.csv", UNIT_COLUMNS, units)
    _write(out / "laichau-2025" / "households.csv", HOUSEHOLD_COLUMNS, households)


def build_2021_services(out: Path) -> None:
    """Service users per agency and field of the 2021 quota table (``laichau-2021-services``).

    About 1.3× each field's quota, except a few fields given too few transactions on purpose,
    mirroring the substitutions of the 2020 adjustment (seed 000), plus some fields outside the
    quota table (e.g. business registration at district level) that substitutions may use.
    """
    plan = load_plan("laichau-2021-services")
    rng = random.Random(f"{SEED}:2021")
    short = {
        ("Sở Công thương", "Lĩnh vực Vật liệu nổ công nghiệp, tiền chất thuốc nổ"): 2,
        ("Phường Quyết Thắng", "Lĩnh vực Lao động Thương binh xã hội"): 0,
        ("Huyện Than Uyên", "Lĩnh vực Lao động Thương binh xã hội"): 6,
        ("Huyện Nậm Nhùn", "Lĩnh vực Tư pháp"): 3,
        ("Sở Tư pháp", "Lĩnh vực Tư vấn pháp luật"): 0,
    }
    extra_fields = {"Huyện Than Uyên": "Lĩnh vực Đăng ký kinh doanh",
                    "Huyện Nậm Nhùn": "Lĩnh vực Đăng ký kinh doanh"}
    rows: list[dict[str, str]] = []
    n = 0
    # a separate stream, so adding the column left every other value of the list as it was
    received = random.Random(f"{SEED}:2021:result")

    def add(agency: str, field_name: str, count: int) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            phone, telegram, zalo = _contacts(rng)
            if not phone:  # the 2021 plan requires a phone or an address
                phone = f"0{rng.choice(_TELCO)}{rng.randrange(10**7):07d}"
            rows.append({
                "user_id": f"HS-2021-{n:05d}", "agency": agency, "field": field_name,
                "name": _person(rng, _MIX["urban"]),
                "address": f"Tổ dân phố số {rng.randint(1, 20)}, {rng.choice(['Tân Phong', 'Đoàn Kết', 'Quyết Thắng', 'Đông Phong'])}",
                "phone": phone, "telegram_id": telegram, "zalo_id": zalo,
                # a few dossiers whose result was not yet collected: not eligible (plan, II.2)
                "result_received": "không" if received.random() < 0.03 else "có",
            })

    for agency in plan.services.agencies:
        for quota in agency.fields:
            key = (agency.name, quota.field)
            count = short.get(key, quota.quota + max(2, int(quota.quota * rng.uniform(0.2, 0.6))))
            add(agency.name, quota.field, count)
        if agency.name in extra_fields:
            add(agency.name, extra_fields[agency.name], 25)
    _write(out / "laichau-2021-services" / "service_users.csv", SERVICE_COLUMNS, rows)


def build_all(out: Path = HERE) -> None:
    build_2024(out)
    build_2025(out)
    build_2021_services(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    build_all(args.out)


if __name__ == "__main__":
    main()
