"""The import rule: packages in pipeline order, imports pointing one way (docs/architecture.md).

Every module of a runtime package is parsed (``ast``, never imported) and each project module it
names is checked: in an ``import`` or ``from … import`` statement anywhere in the file (module top,
function bodies, ``if TYPE_CHECKING`` blocks alike) or as a string given to
``importlib.import_module``. A package may import itself and the packages *before* it in
:data:`PIPELINE`; ``demo/``, ``benchmarks/``, ``tests/`` and ``docs/`` sit outside the pipeline and
may import anything, but no runtime package may import them.

Why a test and not a convention: the engine must stay pure (no storage, no channel), storage must
not know the engine's callers, analytics must not know the channels. A back-edge creeps in as a
"harmless" function-level import; this test names the file and the line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The runtime packages, lowest first: each may import only itself and those before it.
PIPELINE: tuple[str, ...] = ("survey_defs", "engine", "storage", "sampling", "fieldwork", "bot",
                             "analytics", "hailong")
#: Top-level folders outside the pipeline: they may import anything; runtime code never imports them.
OUTSIDE: tuple[str, ...] = ("demo", "benchmarks", "tests", "docs")

#: Violations tolerated, as ``"path:line imported.module"``: none (issue 13 emptied the list; it
#: listed 20 back-edges before the layout, e.g. storage importing bot's engine types).
KNOWN: frozenset[str] = frozenset()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every absolute import in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                out.append((node.lineno, node.module))
                # ``from bot import engine`` names the module ``bot.engine``
                out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names
                           if (ROOT / node.module.replace(".", "/") / a.name).is_dir()
                           or (ROOT / node.module.replace(".", "/") / f"{a.name}.py").is_file())
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                out.append((node.lineno, node.args[0].value))
    return out


def _string_modules(path: Path) -> list[tuple[int, str]]:
    """Dotted names in tuple or list literals of a file that calls ``import_module`` (a mount
    table such as the CLI's), since those are imports too."""
    text = path.read_text(encoding="utf-8")
    if "import_module" not in text:
        return []
    out: list[tuple[int, str]] = []
    top = set(PIPELINE) | set(OUTSIDE)
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.Tuple, ast.List)):
            for el in node.elts:
                if isinstance(el, ast.Constant) and isinstance(el.value, str) \
                        and el.value.split(".")[0] in top \
                        and all(p.isidentifier() for p in el.value.split(".")):
                    out.append((el.lineno, el.value))
    return out


def runtime_modules() -> list[Path]:
    """Every ``.py`` file of the runtime packages."""
    files: list[Path] = []
    for pkg in PIPELINE:
        d = ROOT / pkg
        if d.is_dir():
            files.extend(sorted(d.rglob("*.py")))
    return files


def violations() -> list[str]:
    """``"path:line module"`` for every import that points up the pipeline or out of it."""
    rank = {p: i for i, p in enumerate(PIPELINE)}
    bad: list[str] = []
    for path in runtime_modules():
        rel = path.relative_to(ROOT)
        own = rank[rel.parts[0]]
        seen: set[tuple[int, str]] = set()
        for line, mod in _imports(path) + _string_modules(path):
            if (line, mod) in seen:
                continue
            seen.add((line, mod))
            head = mod.split(".")[0]
            if head in OUTSIDE or (head in rank and rank[head] > own):
                bad.append(f"{rel.as_posix()}:{line} {mod}")
    return sorted(set(bad))


def test_imports_point_down_the_pipeline() -> None:
    found = set(violations())
    new = sorted(found - KNOWN)
    assert not new, "imports pointing up the pipeline (docs/architecture.md):\n" + "\n".join(new)


def test_known_violations_only_shrink() -> None:
    """An entry fixed in the code must leave :data:`KNOWN` too (the list ends empty)."""
    stale = sorted(KNOWN - set(violations()))
    assert not stale, "fixed, remove from KNOWN:\n" + "\n".join(stale)


def test_the_rule_catches_a_back_edge(tmp_path: Path, monkeypatch) -> None:
    """The checker itself: a function-level import of a higher package is reported."""
    rule = sys.modules[__name__]
    (tmp_path / "engine").mkdir()
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "x.py").write_text("X = 1\n")
    (tmp_path / "engine" / "m.py").write_text("def f():\n    from bot import x\n    import demo.y\n")
    monkeypatch.setattr(rule, "ROOT", tmp_path)
    assert rule.violations() == ["engine/m.py:2 bot", "engine/m.py:2 bot.x", "engine/m.py:3 demo.y"]


def test_tests_mirror_the_packages_and_share_helpers_through_support() -> None:
    """Tests live in the folder of the package they test (tests/<package>/…), and a test module
    never imports another test module: shared helpers live in tests/support/."""
    tests = ROOT / "tests"
    loose = sorted(p.name for p in tests.glob("test_*.py") if p.name != Path(__file__).name)
    assert not loose, f"test modules outside a package folder: {loose}"
    crossing = []
    for p in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            crossing += [f"{p.relative_to(tests)}:{node.lineno} {n}" for n in names
                         if n.split(".")[0].startswith("test_")]
    assert not crossing, f"import a helper from tests/support/, not from a test module: {crossing}"
