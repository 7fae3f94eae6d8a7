"""The method and page registries are the only lists: every consumer's list of methods equals
``vit_core.methods.registry.REGISTRY`` and every place that names pages reads ``viz_app.page_registry.PAGES``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vit_core import cli
from vit_core.methods import registry as explain
from vit_core.methods.registry import REGISTRY
from viz_app import page_registry
from viz_app.i18n import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]


def _subcommand(name: str):
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    return commands.choices[name]


def _option(parser, flag: str):
    return next(a for a in parser._actions if flag in a.option_strings)


def test_the_command_line_reads_its_methods_from_the_registry():
    analyze = _option(_subcommand("analyze"), "--methods")
    written = [n for n, spec in REGISTRY.items() if spec.field is not None]
    # no argparse default: a model without a classifier writes rollout alone; otherwise the registry's defaults
    assert analyze.default is None and explain.ANALYZE_DEFAULT == tuple(n for n in written if REGISTRY[n].analyze_default)
    assert f"{','.join(explain.ANALYZE_DEFAULT)} (default" in analyze.help
    assert set(re.findall(r"[a-z_]+", analyze.help)) >= set(written)  # names such as transformer_attribution
    assert not set(re.findall(r"[a-z_]+", analyze.help)) & set(explain.BASELINES)  # analyze writes no baseline
    evaluate = _option(_subcommand("evaluate"), "--methods")
    assert evaluate.default.split(",") == list(REGISTRY)
    assert f"{','.join(REGISTRY)} (default: all)" in evaluate.help
    # each method's paper, so the two Chefer et al. methods (GAE ICCV 2021, Transformer Attribution CVPR 2021) differ
    assert REGISTRY["relevance"].paper != REGISTRY["transformer_attribution"].paper
    for name, spec in REGISTRY.items():
        assert not spec.paper or (f"{name}: {spec.paper}" in evaluate.help
                                  and (spec.field is None or f"{name}: {spec.paper}" in analyze.help)), name


def test_analysis_keys_baselines_and_defaults_derive_from_the_registry():
    assert explain.METHODS == tuple(REGISTRY)
    assert explain.ANALYZE_KEYS == {n: s.field for n, s in REGISTRY.items() if s.field}
    assert explain.BASELINES == tuple(n for n, s in REGISTRY.items() if s.baseline)
    assert explain.FAITHFULNESS_DEFAULT == tuple(n for n, s in REGISTRY.items() if s.cost != "slow")
    for spec in REGISTRY.values():
        assert spec.label_key in CATALOGUE["en"] and spec.label_key in CATALOGUE["ko"]


def _literal_method_lists(path: Path) -> list[int]:
    """Lines of tuples/lists/sets of string literals holding three or more method names: a second list."""
    names = set(REGISTRY)
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(values & names) >= 3:
                lines.append(node.lineno)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count(",") >= 2:
            if len(set(node.value.split(",")) & names) >= 3:
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", ["vit_core/cli.py", "vit_core/runs/evaluate.py", "vit_core/runs/analysis.py",
                                  "viz_app/pages/faithfulness.py", "viz_app/faithfulness_data.py",
                                  "vit_core/methods/registry.py"])
def test_no_consumer_spells_the_method_list_again(path):
    assert _literal_method_lists(ROOT / path) == [], f"{path} lists methods itself; read vit_core.methods.registry.REGISTRY"


def test_the_list_check_can_fail(tmp_path):
    spelled = tmp_path / "x.py"
    spelled.write_text('DEFAULT = ["raw", "rollout", "relevance"]\nHELP = "raw,rollout,flow"\n')
    assert _literal_method_lists(spelled) == [1, 2]


def test_every_page_file_is_in_the_page_registry_and_the_router_reads_it():
    files = sorted(p.stem for p in (ROOT / "viz_app" / "pages").glob("*.py"))
    assert files == sorted(page.name for page in page_registry.PAGES)
    assert {page.section for page in page_registry.PAGES} == set(page_registry.SECTIONS)
    assert sum(page.default for page in page_registry.PAGES) == 1
    for page in page_registry.PAGES:
        assert page.label_key in CATALOGUE["en"] and page.label_key in CATALOGUE["ko"]
    router = (ROOT / "streamlit_app.py").read_text()
    names = {page.name for page in page_registry.PAGES}
    spelled = [s.value for s in ast.walk(ast.parse(router)) if isinstance(s, ast.Constant) and s.value in names]
    assert spelled == ["lesson"], spelled  # the first screen's "Start the lesson" button names its page
    for path in ("viz_app/links.py", "viz_app/ui.py", "viz_app/state.py"):
        source = (ROOT / path).read_text()
        assert "PAGE_CONTROLS: dict" not in source and "FRAGMENT_PAGES =" not in source, path


def test_the_aliases_lead_to_registered_pages():
    paths = {page.url_path for page in page_registry.PAGES}
    assert set(page_registry.ALIASES.values()) <= paths
    assert page_registry.ALIASES["tour"] == "lesson" and page_registry.ALIASES["overview"] == ""
