"""The dependency rules of docs/ARCHITECTURE.md, checked by walking every import with ast."""

from __future__ import annotations

import ast
import re
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


@pytest.mark.parametrize("name", ["figures.py", "export.py", "inside_figures.py"])
def test_figure_builders_take_arrays_not_models(name):
    assert not imported_roots(ROOT / "viz_app" / name) & {"streamlit", "torch", "vit_core"}


def test_the_rule_checker_sees_imports():
    # guard against a checker that passes because it finds nothing
    assert {"torch", "timm"} <= imported_roots(ROOT / "vit_core" / "attention" / "capture.py")
    assert "streamlit" in imported_roots(ROOT / "viz_app" / "resources.py")


def vit_core_import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> vit_core modules it imports, at any depth of the file (an import inside a function is still a
    dependency: it only defers the cycle to the first call)."""
    def module_of(path: Path) -> str:
        parts = path.relative_to(package.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def existing(name: str) -> str | None:
        base = package.parent / Path(*name.split("."))
        return name if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() else None

    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        module = module_of(path)
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name.split(".")[0] == package.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = module.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if base.split(".")[0] != package.name:
                    continue
                for alias in node.names:  # `from . import demo` imports the module vit_core.demo
                    edges.add(existing(f"{base}.{alias.name}") or base)
        graph[module] = {e for e in edges if e != module and not module.startswith(e + ".") and e != package.name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_vit_core_has_no_import_cycle():
    graph = vit_core_import_graph(ROOT / "vit_core")
    assert {"vit_core.results.files", "vit_core.runs.batch"} <= set(graph["vit_core.runs.distributed"])  # the walk sees edges
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_rooms_depend_downwards_as_the_architecture_says():
    """docs/ARCHITECTURE.md: no room imports the command line, and only `inside` (which builds on the analysis)
    imports `runs`."""
    graph = vit_core_import_graph(ROOT / "vit_core")
    into = {target: {_room(m) for m, edges in graph.items() for e in edges if _room(e) == target and _room(m) != target}
            for target in ("runs", "cli")}
    top = {"", "cli", "__main__"}  # the front door (vit_core/__init__.py) and the command line
    assert into["cli"] <= top, into["cli"]
    assert into["runs"] <= top | {"inside"}, into["runs"]
    assert "inside" in into["runs"]  # the walk sees the edge the document names


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    package = tmp_path / "vit_core"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")  # a lazy import closes the circle
    (package / "c.py").write_text("from vit_core.a import y\n")
    graph = vit_core_import_graph(package)
    assert graph["vit_core.c"] == {"vit_core.a"}
    assert find_cycle(graph) in (["vit_core.a", "vit_core.b", "vit_core.a"], ["vit_core.b", "vit_core.a", "vit_core.b"])


def test_the_front_door_is_cheap_and_complete():
    """`import vit_core` loads no torch (names come on first use) and every name it offers resolves; what the README
    and the tutorial import comes from it."""
    import json
    import subprocess
    import sys

    code = ("import sys, vit_core; print(sorted(m for m in ('torch', 'timm', 'streamlit', 'plotly') if m in sys.modules));"
            "import types, vit_core.runs.analysis, vit_core.runs.evaluate, vit_core.attention.capture;"  # submodules named like exports
            "print(all(not isinstance(getattr(vit_core, n), types.ModuleType) for n in vit_core.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["[]", "True"], out
    import vit_core

    imported: set[str] = set()
    cells = json.loads((ROOT / "docs" / "tutorial.ipynb").read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    sources += re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "vit_core":
                assert node.module == "vit_core", f"from {node.module} import ...: import it from vit_core"
                imported |= {alias.name for alias in node.names}
    assert imported and imported <= set(vit_core.__all__), imported - set(vit_core.__all__)


def test_the_layout_shows_the_architecture():
    """vit_core's rooms are folders (docs/ARCHITECTURE.md): at the top only the front door, the command line and the
    errors; every folder's __init__ says in at most two lines what it holds."""
    top = {p.name for p in (ROOT / "vit_core").glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "cli.py", "errors.py"}, top
    folders = [p for p in (ROOT / "vit_core").iterdir() if (p / "__init__.py").is_file()]
    assert {p.name for p in folders} >= {"models", "attention", "methods", "faithfulness", "results", "runs", "inside", "demo"}
    for folder in folders:
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()), clean=False)
        assert doc and len(doc.strip().splitlines()) <= 2, f"{folder.name}/__init__.py: say in two lines what it holds"
