"""Vietnamese alphabetical order: hand-made lists, written in the order a Vietnamese reader expects."""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.collation import ALPHABET, vi_sort_key, vi_sorted


def _shuffled_sorts_to(expected: list[str], *, digraphs: bool = False) -> None:
    rng = random.Random(1)
    for _ in range(5):
        items = expected[:]
        rng.shuffle(items)
        assert vi_sorted(items, digraphs=digraphs) == expected


def test_alphabet_letters_in_order() -> None:
    _shuffled_sorts_to(list(ALPHABET))
    _shuffled_sorts_to([c.upper() for c in ALPHABET])


def test_python_default_sort_is_wrong_and_ours_is_right() -> None:
    names = ["Đông Phong", "Dào San", "Ẳng Cang", "An Bình", "Zô"]
    assert sorted(names)[-1] != "Zô"  # code point order puts Ẳ/Đ after Z
    assert vi_sorted(names) == ["An Bình", "Ẳng Cang", "Dào San", "Đông Phong", "Zô"]


def test_d_bar_after_every_d() -> None:
    _shuffled_sorts_to(["Dào San", "Duy Tân", "Dừa", "Đào", "Đoàn Kết", "Đông Phong", "Em"])


def test_breve_and_circumflex_a_after_a() -> None:
    _shuffled_sorts_to(["Au", "Azu", "Ăn", "Ẳng", "Âm", "Ấp", "Bản"])
    _shuffled_sorts_to(["Nam", "Năm", "Nấm", "Nậm Ban"])


def test_o_horn_and_circumflex_order() -> None:
    _shuffled_sorts_to(["Oa", "Ozo", "Ô Tô", "Ốc", "Ơn", "Pa"])
    _shuffled_sorts_to(["Hoa", "Hoang Thèn", "Hô", "Hồ Thầu", "Hơn", "Hua Nà"])


def test_u_horn_after_u() -> None:
    _shuffled_sorts_to(["Uyên", "Uzu", "Ưng", "Ước", "Vàng"])
    _shuffled_sorts_to(["Mù Cả", "Mù Sang", "Mường Kim", "Mường Tè"])


def test_tone_is_secondary_in_dictionary_order() -> None:
    # ngang, huyền, hỏi, ngã, sắc, nặng
    _shuffled_sorts_to(["ma", "mà", "mả", "mã", "má", "mạ"])
    # A tone never beats a letter: "má" < "mai" although "á" carries a tone.
    _shuffled_sorts_to(["ma", "má", "mai", "mái", "man"])
    # Secondary compared syllable by syllable only when the letters are all equal.
    _shuffled_sorts_to(["Ta Gia", "Tà Gia", "Tà Giá", "Tá Gia", "Tả Ngảo"])


def test_old_and_new_tone_placement_equal_at_the_tone_level() -> None:
    a, b = vi_sort_key("Hòa Bình"), vi_sort_key("Hoà Bình")
    assert a[:2] == b[:2]
    assert vi_sort_key("Hoà") < vi_sort_key("Hoả")
    assert vi_sort_key("Hòa") < vi_sort_key("Hoả")


def test_case_is_tertiary() -> None:
    _shuffled_sorts_to(["bản", "Bản", "BẢN", "bạn"])
    assert vi_sort_key("a") < vi_sort_key("A") < vi_sort_key("à")


def test_numbers_compare_numerically() -> None:
    expected = [f"Tổ dân phố số {i}" for i in (1, 2, 3, 9, 10, 11, 20, 100)]
    _shuffled_sorts_to(expected)
    _shuffled_sorts_to(["Tổ 2", "Tổ 02", "Tổ 10"])
    _shuffled_sorts_to(["Bản 5", "Bản A", "Bản Ă"])  # numbers before letters


def test_word_by_word() -> None:
    _shuffled_sorts_to(["Nà", "Nà Lại", "Nà Tăm", "Nàng"])
    _shuffled_sorts_to(["Lê Lợi", "Lê-Lợi A", "Lê Lợi B"])


def test_nfc_and_nfd_are_equivalent() -> None:
    for name in ["Đoàn Kết", "Tân Phong", "Mường Tè", "Sìn Hồ", "Phong Thổ", "Nậm Nhùn"]:
        nfd = unicodedata.normalize("NFD", name)
        assert nfd != name
        assert vi_sort_key(nfd) == vi_sort_key(name)


def test_real_lai_chau_communes_of_tam_duong() -> None:
    expected = [
        "Bản Bo", "Bản Giang", "Bản Hon", "Bình Lư", "Giang Ma", "Hồ Thầu", "Khun Há",
        "Nà Tăm", "Nùng Nàng", "Sơn Bình", "Tả Lèng", "Tam Đường", "Thèn Sin",
    ]
    _shuffled_sorts_to(expected)


def test_real_lai_chau_communes_of_sin_ho() -> None:
    expected = [
        "Căn Co", "Chăn Nưa", "Hồng Thu", "Lả Nhì Thàng", "Làng Mô", "Ma Quai", "Nậm Cha",
        "Nậm Cuổi", "Nậm Hăn", "Nậm Mạ", "Nậm Tăm", "Noong Hẻo", "Pa Khóa", "Pa Tần",
        "Phăng Sô Lin", "Phìn Hồ", "Pu Sam Cáp", "Sà Dề Phìn", "Sìn Hồ", "Tả Ngảo", "Tả Phìn",
        "Tủa Sín Chải",
    ]
    # Word by word: "Lả Nhì Thàng" before "Làng Mô" because the word "lả" ends first.
    _shuffled_sorts_to(expected)


def test_real_city_wards() -> None:
    _shuffled_sorts_to(["Đoàn Kết", "Đông Phong", "Quyết Thắng", "Quyết Tiến", "Tân Phong"])


def test_traditional_digraph_mode() -> None:
    plain = ["Ca", "Chăn Nưa", "Cu", "Giang Ma", "Gò", "Na", "Ngà", "Nghệ", "Nhạn", "No"]
    assert vi_sorted(plain) == ["Ca", "Chăn Nưa", "Cu", "Giang Ma", "Gò", "Na", "Ngà", "Nghệ",
                                "Nhạn", "No"]
    assert vi_sorted(plain, digraphs=True) == [
        "Ca", "Cu", "Chăn Nưa", "Gò", "Giang Ma", "Na", "No", "Ngà", "Nghệ", "Nhạn",
    ]
    # Digraphs only at a syllable start: the final "nh" of "Anh" is two letters.
    assert vi_sorted(["Anh", "Ang", "An"], digraphs=True) == ["An", "Ang", "Anh"]


def test_key_argument_and_reverse() -> None:
    rows = [{"name": "Đông Phong"}, {"name": "Tân Phong"}, {"name": "Đoàn Kết"}]
    assert [r["name"] for r in vi_sorted(rows, key=lambda r: r["name"])] == [
        "Đoàn Kết", "Đông Phong", "Tân Phong"]
    assert vi_sorted(["a", "b", "đ"], reverse=True) == ["đ", "b", "a"]


def test_rejects_non_string() -> None:
    with pytest.raises(TypeError):
        vi_sort_key(3)  # type: ignore[arg-type]


_VI_TEXT = st.text(
    alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐƠƯàảãáạằẳẵắặầẩẫấậềểễếệòỏõóọờởỡớợừửữứự 0123456789-",
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_VI_TEXT, max_size=12))
def test_order_is_total_and_independent_of_input_order(items: list[str]) -> None:
    once = vi_sorted(items)
    assert vi_sorted(list(reversed(items))) == once
    keys = [vi_sort_key(x) for x in once]
    assert all(a <= b for a, b in zip(keys, keys[1:]))


@settings(max_examples=200, deadline=None)
@given(_VI_TEXT, _VI_TEXT)
def test_nfd_equivalence_property(a: str, b: str) -> None:
    na, nb = unicodedata.normalize("NFD", a), unicodedata.normalize("NFD", b)
    assert (vi_sort_key(a) < vi_sort_key(b)) == (vi_sort_key(na) < vi_sort_key(nb))
