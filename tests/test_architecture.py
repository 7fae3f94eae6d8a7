"""The dependency rules of docs/ARCHITECTURE.md, checked by walking every import with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((ROOT / "vit_core").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_vit_core_never_imports_the_front_end(path):
    assert not imported_roots(path) & {"streamlit", "plotly", "viz_app"}


@pytest.mark.parametrize("name", ["figures.py", "export.py"])
def test_figure_builders_take_arrays_not_models(name):
    assert not imported_roots(ROOT / "viz_app" / name) & {"streamlit", "torch", "vit_core"}


def test_the_rule_checker_sees_imports():
    # guard against a checker that passes because it finds nothing
    assert {"torch", "timm"} <= imported_roots(ROOT / "vit_core" / "capture.py")
    assert "streamlit" in imported_roots(ROOT / "viz_app" / "resources.py")
