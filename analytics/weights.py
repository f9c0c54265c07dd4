"""Weights as a sensitivity check: a design-weighted and a raked index beside the official one.

The official index is unweighted, as the method prescribes (docs/methodology.md: no source
mentions weights). Two other readings show how much that choice matters, and are labelled as such
everywhere they appear:

- **design-weighted**: each respondent weighs the inverse of their selection probability, the
  product over the design's stages of (units taken ÷ units in the list), from the frame's counts
  (communes of the district, villages of the commune, households of the village). A unit chosen by
  a rule rather than by lot is treated as if drawn at random from its list;
- **raked**: those weights (or 1 where the frame counts are unknown) adjusted by iterative
  proportional fitting (Deming & Stephan 1940) until the weighted shares of age band, sex and
  urban/rural match population margins given in a small CSV
  (``dimension,category,target``; targets are counts or shares, normalised per dimension).

Raked intervals would need every replicate re-raked; hailong reports the raked point value with
Kish's weighting effect (1 + CV² of the weights) instead of an interval that pretends otherwise.
"""

from __future__ import annotations

from pathlib import Path
import numpy as np
import pandas as pd

from analytics.design import RESPONDENT, Design

__all__ = ["WeightError", "RAKE_DIMENSIONS", "design_weights", "kish_deff", "rake", "read_margins",
           "urban_rural_of", "URBAN", "RURAL"]

#: Dimensions a margins file may give (columns of the wide table).
RAKE_DIMENSIONS = ("age_band", "sex", "urban_rural")
URBAN, RURAL = "Thành thị", "Nông thôn"
MAX_MARGIN_ROWS = 1000


class WeightError(ValueError):
    """Weights that cannot be computed (missing frame counts, a bad margins file), bilingual."""


def urban_rural_of(kind: object, name: object = None) -> str | None:
    """Urban or rural from a commune's kind ("phường", "thị trấn": urban; "xã": rural), else
    from the prefix of its name; None when neither says."""
    for text in (kind, name):
        if not isinstance(text, str):
            continue
        t = " ".join(text.split()).casefold()
        if t.startswith(("phường", "thị trấn", "ward", "town")):
            return URBAN
        if t.startswith(("xã", "commune")):
            return RURAL
    return None


def design_weights(df: pd.DataFrame, design: Design, frame: pd.DataFrame) -> np.ndarray:
    """Inverse selection probability of every row, from the frame's counts.

    ``frame``: one row per unit of the round's frame: ``code``, ``kind`` (province … village),
    ``parent_code``, ``selected`` (taken for the round), ``households`` (households in the
    village's list) and ``sampled`` (households drawn for it). Each stage's probability is
    (selected units of that level under the unit's parent) ÷ (units of that level under it in
    the frame); the household stage's, ``sampled ÷ households`` of the village.

    Raises :class:`WeightError` naming what is missing when a probability cannot be known.
    """
    p = np.ones(len(df))
    by_code = frame.set_index("code")
    missing: list[str] = []
    for col in design.stages:
        if col == RESPONDENT:
            village = next((c for c in reversed(design.stages) if c != RESPONDENT), None)
            if village is None:
                missing.append("danh sách người dùng dịch vụ / the service-user list (not stored)")
                continue
            codes = df[village].astype(object).to_numpy()
            hh = pd.to_numeric(by_code["households"], errors="coerce").reindex(codes).to_numpy(dtype=float)
            taken = pd.to_numeric(by_code["sampled"], errors="coerce").reindex(codes).to_numpy(dtype=float)
            bad = ~(hh > 0) | ~(taken > 0)
            if bad.any():
                missing.append(f"số hộ trong danh sách của {int(pd.Series(codes[bad]).nunique())} bản / "
                               f"household counts of {int(pd.Series(codes[bad]).nunique())} villages")
                continue
            p *= np.minimum(1.0, taken / hh)
            continue
        level = col[:-3] if col.endswith("_id") else col
        if col not in df.columns:
            missing.append(f"cột {col} / column {col}")
            continue
        units = frame[frame["kind"] == level]
        n_frame = units.groupby("parent_code", dropna=False).size()
        n_taken = units[units["selected"].astype(bool)].groupby("parent_code", dropna=False).size()
        parent = by_code["parent_code"].reindex(df[col].astype(object).to_numpy()).to_numpy()
        nf = n_frame.reindex(parent).to_numpy(dtype=float)
        nt = n_taken.reindex(parent).to_numpy(dtype=float)
        bad = ~(nf > 0) | ~(nt > 0)
        if bad.any():
            missing.append(f"số đơn vị cấp {level} trong khung mẫu / frame counts of the {level} level")
            continue
        p *= np.minimum(1.0, nt / nf)
    if missing:
        raise WeightError("không tính được trọng số thiết kế, thiếu / design weights need: " + "; ".join(missing))
    return 1.0 / p


def kish_deff(w: np.ndarray) -> float:
    """Kish's design effect of unequal weights, n Σw² / (Σw)² = 1 + CV²."""
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(len(w) * (w * w).sum() / w.sum() ** 2) if len(w) else float("nan")


def read_margins(path: str | Path) -> pd.DataFrame:
    """Read and check a margins CSV: columns ``dimension``, ``category``, ``target`` (Vietnamese
    headers ``chiều``/``nhóm``/``số người`` also accepted); targets positive numbers."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig", nrows=MAX_MARGIN_ROWS + 1)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise WeightError(f"không đọc được tệp cơ cấu dân số {path.name} / cannot read the margins file: "
                          f"{type(exc).__name__}") from None
    if len(raw) > MAX_MARGIN_ROWS:
        raise WeightError(f"tệp cơ cấu quá dài (> {MAX_MARGIN_ROWS} dòng) / margins file too long")
    aliases = {"dimension": "dimension", "chiều": "dimension", "biến": "dimension",
               "category": "category", "nhóm": "category",
               "target": "target", "số người": "target", "tỷ lệ": "target", "population": "target"}
    raw.columns = [aliases.get(" ".join(str(c).split()).casefold(), str(c)) for c in raw.columns]
    need = [c for c in ("dimension", "category", "target") if c not in raw.columns]
    if need:
        raise WeightError(f"tệp cơ cấu thiếu cột / margins file lacks columns: {', '.join(need)}")
    m = raw[["dimension", "category", "target"]].copy()
    m["dimension"] = m["dimension"].fillna("").str.strip()
    m["category"] = m["category"].fillna("").str.strip()
    m["target"] = pd.to_numeric(m["target"], errors="coerce")
    bad = m[(m["dimension"] == "") | (m["category"] == "") | ~(m["target"] > 0) | ~np.isfinite(m["target"])]
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad.index[:10])
        raise WeightError(f"dòng không hợp lệ (cần chiều, nhóm, số dương) / invalid rows {rows}: need a "
                          "dimension, a category and a positive target")
    unknown = sorted(set(m["dimension"]) - set(RAKE_DIMENSIONS))
    if unknown:
        raise WeightError(f"chiều không hỗ trợ / unknown dimension(s) {unknown}; dùng / use {list(RAKE_DIMENSIONS)}")
    dup = m.duplicated(["dimension", "category"])
    if dup.any():
        raise WeightError(f"nhóm lặp lại / repeated category: {m.loc[dup, 'category'].iloc[0]}")
    return m.reset_index(drop=True)


def rake(df: pd.DataFrame, margins: pd.DataFrame, base: np.ndarray | None = None,
         tol: float = 1e-10, max_iter: int = 500) -> tuple[np.ndarray, int]:
    """Raked weights (rows with a missing value in a raked dimension get 0) and the number of
    such rows. Every category of the margins must have respondents, and every respondent's
    category must be in the margins: otherwise the margins cannot be met and WeightError says why.
    """
    w = np.ones(len(df)) if base is None else np.asarray(base, dtype=float).copy()
    dims: list[tuple[np.ndarray, np.ndarray]] = []
    keep = np.ones(len(df), dtype=bool)
    for dim, part in margins.groupby("dimension", sort=False):
        if dim not in df.columns:
            raise WeightError(f"dữ liệu không có cột {dim} / the data has no column {dim}")
        values = df[dim].astype(object).where(df[dim].notna(), None).to_numpy()
        cats = part["category"].tolist()
        share = part["target"].to_numpy(dtype=float)
        share = share / share.sum()
        present = pd.Series(values).dropna().astype(str)
        extra = sorted(set(present) - set(cats))
        if extra:
            raise WeightError(f"{dim}: nhóm {extra} có trong dữ liệu nhưng không có trong tệp cơ cấu / "
                              f"categories {extra} are in the data but not in the margins")
        empty = sorted(set(cats) - set(present))
        if empty:
            raise WeightError(f"{dim}: không có người trả lời thuộc nhóm {empty}: không hiệu chỉnh được / "
                              f"no respondent in {empty}: the margins cannot be met")
        code = np.full(len(df), -1, dtype=np.int64)
        for i, c in enumerate(cats):
            code[np.array([v is not None and str(v) == c for v in values])] = i
        keep &= code >= 0
        dims.append((code, share))
    dropped = int((~keep).sum())
    w = np.where(keep, w, 0.0)
    total = w.sum()
    if total <= 0:
        raise WeightError("không còn người trả lời nào để hiệu chỉnh / no respondent left to rake")
    for _ in range(max_iter):
        worst = 0.0
        for code, share in dims:
            have = np.bincount(code[keep], weights=w[keep], minlength=len(share))
            factor = share * total / have
            w[keep] *= factor[code[keep]]
            worst = max(worst, float(np.abs(have / total - share).max()))
        if worst < tol:
            return w, dropped
    raise WeightError(f"hiệu chỉnh không hội tụ sau {max_iter} vòng / raking did not converge in "
                      f"{max_iter} iterations")

