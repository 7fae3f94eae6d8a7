"""The fused Triton kernel (vit_core.attention.fused_stats) against float64 references and against the rebuild path.

On a GPU (TORCH_DEVICE=cuda) the kernel is compiled and run for real. On a CPU the tests run in a child
pytest with TRITON_INTERPRET=1, which makes Triton interpret the same kernel on CPU tensors.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention import fused_stats
from vit_core.attention.capture import capture
from vit_core.methods import mean_attention_distance
from vit_core.methods.distance import patch_distances
from vit_core.methods.rollout import fuse_heads, rollout_layer_matrix
from vit_core.models.geometry import geometry_of
from vit_core.models.types import Geometry
from vit_core.runs.analysis import AnalysisSink, RolloutSettings, analyze

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
HAS_TRITON = importlib.util.find_spec("triton") is not None
KERNEL_RUNS = HAS_TRITON and (DEVICE.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1")
needs_kernel = pytest.mark.skipif(not KERNEL_RUNS, reason="runs on a GPU, or in the TRITON_INTERPRET=1 child below")


@pytest.mark.skipif(KERNEL_RUNS or not HAS_TRITON, reason="the kernel runs in this process, or Triton is absent")
def test_kernel_under_the_triton_interpreter():
    """On a CPU: run this file's kernel tests in a child process where Triton interprets the kernel."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "TORCH_DEVICE": "cpu"}
    here = Path(__file__)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here)],
        cwd=here.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" in result.stdout  # this test itself skips there


def _geometry(grid: tuple[int, int], prefix: tuple[str, ...], heads: int) -> Geometry:
    gh, gw = grid
    return Geometry((16, 16), grid, (16 * gh, 16 * gw), prefix, False, "token", 1, heads, 16 * heads)  # type: ignore[arg-type]


CASES = [  # grid, prefix tokens, heads, head_dim, dtype
    ((4, 5), ("cls",), 3, 16, torch.float32),
    ((3, 3), ("cls", "dist"), 2, 64, torch.float32),  # head_dim in two chunks
    ((16, 17), ("cls",), 2, 64, torch.float32),  # 273 tokens: 512-wide key rows
    ((3, 4), ("cls", "reg", "reg", "reg", "reg"), 2, 24, torch.float16),  # head_dim padded to 32
    ((4, 4), (), 4, 16, torch.float32),  # no class token (global average pool)
    ((5, 7), ("reg",), 1, 64, torch.bfloat16),
]


@needs_kernel
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_kernel_matches_float64_reference(case, fusion):
    grid, prefix, heads, head_dim, dtype = CASES[case]
    if dtype == torch.bfloat16 and DEVICE.type == "cpu":
        pytest.skip("numpy, under Triton's interpreter, has no bfloat16")
    g = _geometry(grid, prefix, heads)
    generator = torch.Generator().manual_seed(case)
    batch, tokens = 2, g.num_tokens
    # q as timm makes it: a permuted view of one qkv tensor, so not contiguous
    q = (3 * torch.randn(batch, tokens, heads, head_dim, generator=generator)).to(dtype).to(DEVICE).transpose(1, 2)
    k = (3 * torch.randn(batch, heads, tokens, head_dim, generator=generator)).to(dtype).to(DEVICE)
    scale = head_dim**-0.5
    cls_index = g.token_index("cls") if g.has_class_token else None
    distances = fused_stats.token_distances(patch_distances(g, DEVICE), g.num_prefix_tokens)
    kwargs = dict(num_prefix_tokens=g.num_prefix_tokens, cls_index=cls_index, head_fusion=fusion)
    stats = fused_stats.fused_attention_stats(q, k, scale, distances, **kwargs)
    factor = fused_stats.fused_attention_stats(q, k, scale, distances, residual_weight=0.3, **kwargs)

    probs = ((q.double() @ k.double().transpose(-2, -1)) * scale).softmax(dim=-1)  # [batch, head, query, key]
    entropy = -torch.special.xlogy(probs, probs).sum(dim=-1)
    torch.testing.assert_close(stats.entropy_rows.double(), entropy, rtol=1e-5, atol=2e-5)
    assert stats.distance_rows.shape == (batch, heads, g.num_patches)
    torch.testing.assert_close(
        stats.distance_rows.mean(dim=-1).double(), mean_attention_distance(probs, g).double(), rtol=1e-5, atol=1e-4
    )
    torch.testing.assert_close(stats.fused.double(), fuse_heads(probs, fusion).double(), rtol=1e-5, atol=1e-6)
    assert not stats.is_factor and factor.is_factor
    expected_factor = rollout_layer_matrix(probs, RolloutSettings(head_fusion=fusion, residual_weight=0.3), num_prefix_tokens=g.num_prefix_tokens)
    torch.testing.assert_close(factor.fused.double(), expected_factor.double(), rtol=1e-5, atol=1e-6)
    if cls_index is None:
        assert stats.cls_row is None
    else:
        torch.testing.assert_close(stats.cls_row.double(), probs[:, :, cls_index], rtol=1e-5, atol=1e-6)

    # heads split over programs (for small batches): the same rows, head-fused partials combined afterwards
    block_m, _, block_d, warps = fused_stats.launch_config(g.num_tokens, head_dim, q.element_size())
    for groups in {2, heads}:
        split = fused_stats.fused_attention_stats(
            q, k, scale, distances, residual_weight=0.3, config=(block_m, block_d, warps, groups), **kwargs
        )
        assert split.is_factor == (heads == 1)
        expected = expected_factor if split.is_factor else fuse_heads(probs, fusion)
        torch.testing.assert_close(split.fused.double(), expected.double(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(split.entropy_rows, stats.entropy_rows)
        torch.testing.assert_close(split.distance_rows, stats.distance_rows)


@needs_kernel
def test_kernel_refuses_mismatched_shapes():
    q = torch.randn(1, 2, 5, 16, device=DEVICE)
    with pytest.raises(ValueError, match="do not match"):
        fused_stats.fused_attention_stats(q, q[:, :, :4], 1.0, torch.zeros(5, 5), num_prefix_tokens=1, cls_index=0)


ANALYSED = ["rollout", "prefix_weights", "cls_attention", "mean_attention_distance", "attention_entropy", "logits"]


@needs_kernel
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_analyze_with_the_kernel_equals_the_rebuild_path(layout):
    model = make_model(layout, DEVICE)
    pixels = input_for(model, batch=2, device=DEVICE)
    for settings in (RolloutSettings(), RolloutSettings(head_fusion="min", discard_ratio=0.5, start_layer=1)):
        kwargs = dict(rollout=settings, attention="none", relevance=False, model_views=False)
        fused = analyze(model, pixels, fused_kernel=True, **kwargs).arrays()
        rebuilt = analyze(model, pixels, fused_kernel=False, **kwargs).arrays()
        assert fused.keys() == rebuilt.keys()
        for key in ANALYSED:
            if key in rebuilt:
                np.testing.assert_allclose(fused[key], rebuilt[key], rtol=1e-4, atol=1e-5, err_msg=f"{key} {settings}")


@needs_kernel
def test_sink_uses_the_kernel_only_where_asked():
    model = make_model("class_token", DEVICE)
    pixels = input_for(model, batch=1, device=DEVICE)
    g = geometry_of(model, tuple(pixels.shape[-2:]))
    used = AnalysisSink(g, RolloutSettings(), keep_attention=False, fused_kernel=True)
    capture(model, pixels, sink=used)
    assert used.used_fused_kernel and len(used._kernel_rows) == g.depth and not used._pending
    for sink in (
        AnalysisSink(g, RolloutSettings(), keep_attention=False, fused_kernel=False),
        AnalysisSink(g, RolloutSettings(), keep_attention=True, fused_kernel=True),  # the maps themselves are kept
    ):
        capture(model, pixels, sink=sink)
        assert not sink.used_fused_kernel
        torch.testing.assert_close(sink.distance, used.distance, rtol=1e-4, atol=1e-5)


@needs_kernel
def test_a_failing_kernel_falls_back_to_rebuilding(monkeypatch):
    """A Triton or driver the kernel cannot compile with must cost speed, never the analysis."""
    from vit_core.runs import analysis

    def broken(*args, **kwargs):
        raise RuntimeError("PassManager::run failed")

    model = make_model("class_token", DEVICE)
    pixels = input_for(model, batch=1, device=DEVICE)
    expected = analyze(model, pixels, fused_kernel=False, relevance=False, attention="none", model_views=False).arrays()
    monkeypatch.setattr(fused_stats, "fused_attention_stats", broken)
    monkeypatch.setattr(analysis, "_KERNEL_FAILED", set())
    with pytest.warns(UserWarning, match="rebuilding attention instead"):
        got = analyze(model, pixels, fused_kernel=True, relevance=False, attention="none", model_views=False).arrays()
    assert len(analysis._KERNEL_FAILED) == 1  # this shape only: others still try the kernel
    for key in ANALYSED:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


SHARED_MEMORY_LIMIT = {80: 163 * 1024, 90: 227 * 1024}  # bytes one block may use: A100, H100/H200


@pytest.mark.skipif(
    not HAS_TRITON or KERNEL_RUNS, reason="needs Triton's compiler; where the kernel runs, the tests above compile it"
)
@pytest.mark.parametrize("arch", [80, 90])
@pytest.mark.parametrize(
    "dtype, tokens, fusion, factor",
    [
        ("bf16", 197, "mean", True),  # ViT-B/16 at 224 px, the default rollout
        ("fp16", 197, "max", False),  # discarding after the kernel
        ("fp32", 197, "min", True),
        ("bf16", 577, "mean", True),  # ViT-L/16 at 384 px
        ("fp32", 577, "mean", True),
    ],
)
def test_kernel_compiles_for_real_gpus(arch, dtype, tokens, fusion, factor):
    """The interpreter does not compile; this does, for sm_80 and sm_90, with no GPU needed (ptxas comes with Triton)."""
    compiled = fused_stats.compile_for(arch, dtype, tokens, fusion=fusion, factor=factor)
    assert "attention_stats" in compiled.asm["ptx"]
    assert compiled.metadata.shared <= SHARED_MEMORY_LIMIT[arch]


@needs_kernel
def test_sequences_beyond_the_kernels_register_budget_are_rebuilt():
    q = torch.zeros(1, 1, fused_stats.MAX_TOKENS + 1, 16, device=DEVICE)
    assert not fused_stats.available(q)
    with pytest.raises(RuntimeError, match="at most 2048 tokens"):
        fused_stats.fused_attention_stats(q, q, 1.0, torch.zeros(1, 1), num_prefix_tokens=0, cls_index=None)
    g = _geometry((1, 1), (), 1)
    assert not AnalysisSink(g, RolloutSettings(), keep_attention=False, fused_kernel=True)._kernel_wanted(q, None)
