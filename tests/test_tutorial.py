"""docs/tutorial.ipynb runs top to bottom (nbclient, the bundled model, offline) and says what analyze says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


@pytest.fixture(scope="module")
def executed():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it clean"
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    figures = [o["data"]["application/vnd.plotly.v1+json"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    return text, figures


def _number(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}:? (.+)$", text, flags=re.MULTILINE)
    assert match, f"the notebook no longer prints {label!r}"
    return match.group(1)


def test_figures_are_produced(executed):
    _, figures = executed
    assert len(figures) >= 6  # patch grid, rollout, relevance, and Figure 7's three panels
    assert all(figure["data"] for figure in figures)


def test_printed_numbers_match_analyze(executed):
    from vit_core import DEMO_MODEL_NAME, load_image, load_model, preprocess
    from vit_core.runs.analysis import analyze

    text, _ = executed
    loaded = load_model(DEMO_MODEL_NAME, device="cpu")
    pixel_values, _ = preprocess(load_image(ROOT / "assets" / "samples" / "pair_ring_star.png"), loaded.data_config)
    arrays = analyze(loaded.model, pixel_values[None])
    top = int(arrays.logits[0].argmax())
    probability = float(torch.from_numpy(arrays.logits[0]).softmax(-1)[top])
    assert _number(text, "analyze top-1") == f"{top} {loaded.label_names[top]} {probability:.6f}"
    assert float(_number(text, "analyze rollout peak")) == pytest.approx(arrays.rollout[0].max(), abs=2e-6)
    assert float(_number(text, "analyze relevance peak")) == pytest.approx(arrays.relevance[0].max(), abs=2e-6)
    distances = [float(d) for d in _number(text, "analyze mean attention distance per layer (px)").split()]
    assert np.allclose(distances, arrays.mean_attention_distance[0].mean(-1), atol=2e-3)


def test_the_hand_written_steps_agree_with_vit_core(executed):
    text, _ = executed
    assert float(re.search(r"rollout by hand vs vit_core: largest difference (\S+)", text).group(1)) < 1e-5
    assert float(re.search(r"model's own embedding: (\S+)", text).group(1)) < 1e-4
    assert "rows sum to 1: True" in text
