"""Write docs/xlsform-example.xlsx, the XLSForm example of docs/authoring.md.

The workbook is what an officer writes by hand in Excel (not an export): plain XLSForm, plus
the hailong_ columns and sheets where hailong needs more. ``tests/survey_defs/test_xlsform_docs.py`` checks
that the shipped file is what this script writes, that it imports, and that the tables in the
guide show the same cells. Run: ``.venv/bin/python docs/make_xlsform_example.py``.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from survey_defs.spreadsheet_safety import SafeWorkbook  # noqa: E402

OUT = Path(__file__).resolve().parent / "xlsform-example.xlsx"

VI, EN = "label::Vietnamese (vi)", "label::English (en)"
HVI, HEN = "hint::Vietnamese (vi)", "hint::English (en)"
CVI, CEN = "constraint_message::Vietnamese (vi)", "constraint_message::English (en)"

SURVEY = [
    ["type", "name", VI, EN, HVI, HEN, "required", "relevant", "constraint", CVI, CEN, "choice_filter",
     "hailong_type", "hailong_min", "hailong_max", "hailong_max_length", "hailong_max_picks", "hailong_exclusive",
     "hailong_index", "hailong_pillar", "hailong_component", "hailong_criterion"],
    ["begin_group", "screening", "Sàng lọc", "Screening"],
    ["select_one yesno", "q_consent", "Ông/Bà đồng ý trả lời vài câu hỏi?", "Do you agree to answer a few questions?",
     None, None, "yes", None, None, None, None, None, "yesno"],
    ["integer", "q_age", "Ông/Bà bao nhiêu tuổi?", "How old are you?", "Gõ số tuổi, ví dụ: 45.",
     "Type your age, e.g. 45.", "yes", None, None, None, None, None, None, "10", "120"],
    ["end_group", "screening"],
    ["begin_group", "service", "Thủ tục Ông/Bà đã làm", "Your procedure", None, None, None, "${q_age} >= 18"],
    ["select_one agency", "q_agency", "Ông/Bà làm thủ tục ở đâu?", "Where did you do the procedure?",
     None, None, "yes"],
    ["select_one field", "q_field", "Thủ tục thuộc lĩnh vực nào?", "Which field was it in?",
     None, None, "yes", None, None, None, None, "agency = ${q_agency}"],
    ["select_multiple channel", "q_channels", "Ông/Bà biết thông tin qua đâu?", "Where did you hear about it?",
     "Chọn tối đa 2.", "Choose up to 2.", "yes", None, None, None, None, None, None, None, None, None, "2", "9"],
    ["text", "q_channels_other", "Nơi khác là nơi nào?", "Which other place?", None, None, None,
     "selected(${q_channels}, '8')", None, None, None, None, None, None, None, "200"],
    ["begin_group", "q_access", "Ông/Bà hài lòng thế nào về:", "How satisfied are you with:"],
    ["select_one sat5", "q_access_seats", "Chỗ ngồi chờ", "Seats in the waiting area", None, None, "yes",
     None, None, None, None, None, None, None, None, None, None, None,
     "satisfaction", "services", "II.A", "Đủ chỗ ngồi chờ"],
    ["select_one sat5", "q_access_staff", "Thái độ của công chức", "The civil servants' manner", None, None, "yes",
     None, None, None, None, None, None, None, None, None, None, None,
     "satisfaction", "services", "II.C", "Thái độ công chức"],
    ["end_group", "q_access"],
    ["integer", "q_visits", "Ông/Bà đến bao nhiêu lần trong năm?", "How many visits this year?", None, None, None,
     None, ". <= 20", "Tối đa 20 lần.", "At most 20 visits.", None, None, "1", "50"],
    ["note", "q_note", "Sắp xong rồi!", "Almost done!"],
    ["text", "q_comment", "Ý kiến khác", "Other comments", None, None, None, None, None, None, None, None, None,
     None, None, "1000"],
    ["end_group", "service"],
]

CHOICES = [
    ["list_name", "name", VI, EN, "agency", "hailong_satisfied", "hailong_aliases_vi"],
    ["yesno", "1", "Có", "Yes"],
    ["yesno", "0", "Không", "No"],
    ["agency", "1", "Bộ phận Một cửa tỉnh", "Provincial one-stop shop"],
    ["agency", "2", "Bộ phận Một cửa xã", "Commune one-stop shop"],
    ["field", "1", "Đất đai", "Land", "1"],
    ["field", "2", "Đăng ký kinh doanh", "Business registration", "1"],
    ["field", "3", "Hộ tịch", "Civil status", "2"],
    ["field", "4", "Chứng thực", "Certification", "2"],
    ["channel", "1", "Loa phát thanh", "Loudspeaker"],
    ["channel", "2", "Họp thôn, bản", "Village meeting"],
    ["channel", "8", "Nơi khác", "Elsewhere"],
    ["channel", "9", "Không nơi nào", "Nowhere"],
    ["sat5", "1", "Rất không hài lòng", "Very dissatisfied"],
    ["sat5", "2", "Không hài lòng", "Dissatisfied"],
    ["sat5", "3", "Bình thường", "Neutral"],
    ["sat5", "4", "Hài lòng", "Satisfied", None, "yes", "hai long; ok"],
    ["sat5", "5", "Rất hài lòng", "Very satisfied", None, "yes", "rat hai long"],
]

SETTINGS = [
    ["form_title", "form_id", "version", "default_language"],
    ["Khảo sát bộ phận một cửa", "khao-sat-mot-cua", "2026.1", "Vietnamese (vi)"],
]

TEXTS = [
    ["kind", "name", VI, EN],
    ["title", None, "Khảo sát bộ phận một cửa", "One-stop shop survey"],
    ["pillar", "services", "Cung ứng dịch vụ hành chính công", "Public administrative services"],
    ["component", "II.A", "Tiếp cận dịch vụ", "Access to services"],
    ["component", "II.C", "Công chức giải quyết công việc", "Civil servants"],
]

END_RULES = [
    ["name", "when", "outcome", "message::Vietnamese (vi)", "message::English (en)"],
    ["refused", "${q_consent} = '0'", "refused", "Cảm ơn Ông/Bà đã dành thời gian.", "Thank you for your time."],
    ["under_18", "${q_age} < 18", "ineligible", "Khảo sát dành cho người từ 18 tuổi.",
     "This survey is for people aged 18 and over."],
]

SHEETS = {"survey": SURVEY, "choices": CHOICES, "settings": SETTINGS, "hailong_texts": TEXTS,
          "hailong_end_rules": END_RULES}


def write(path: Path = OUT) -> Path:
    """Every cell as text (never a formula); a fixed creation date keeps the bytes stable."""
    wb = SafeWorkbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"title": "hailong XLSForm example", "created": datetime.datetime(2020, 1, 1)})
    bold = wb.add_format({"bold": True})
    for name, rows in SHEETS.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is not None:
                    wb.write_row(ws, i, j, [value], bold if i == 0 else None)
        ws.freeze_panes(1, 0)
        for j in range(len(rows[0])):
            ws.set_column(j, j, min(max(len(str(r[j])) if j < len(r) and r[j] else 0 for r in rows) + 2, 40))
    wb.close()
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
