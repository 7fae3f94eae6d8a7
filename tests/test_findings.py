"""Captions conditioned on data (viz_app.findings), the centred position-embedding similarity, and the one-row
token strip, each against a reference computed another way."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from vit_core.methods.pos_embed import patch_position_embeddings, pos_embed_similarity
from viz_app import figures, findings, rendering


def test_distance_finding_sees_local_early_heads_and_not_uniform_ones():
    local = np.array([[5.0, 10.0, 100.0, 110.0], [60.0, 90.0, 100.0, 105.0], [100.0, 104.0, 106.0, 108.0]])
    found = findings.distance_finding(local)
    assert found.pattern and found.first == (5.0, 110.0) and found.last == (100.0, 108.0)
    assert "spread 105 px" in found.text and "This is the paper's pattern" in found.text
    uniform = np.full((3, 4), 110.0) + np.arange(4)  # every head at 110-113 px in every layer
    found = findings.distance_finding(uniform)
    assert not found.pattern and "does not appear" in found.text


def _grid_similarity(embeddings: np.ndarray) -> np.ndarray:
    gh, gw, d = embeddings.shape
    flat = embeddings.reshape(-1, d)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    return (unit @ unit.T).reshape(gh, gw, gh, gw)


def test_position_finding_tells_a_grid_layout_from_random_embeddings():
    rows, cols = np.mgrid[0:8, 0:8]
    smooth = np.stack([np.cos(rows / 3), np.sin(rows / 3), np.cos(cols / 3), np.sin(cols / 3)], -1)
    found = findings.position_finding(_grid_similarity(smooth))
    assert found.structured and found.neighbour_share == 1.0 and "learned the 2-D layout" in found.text
    noise = np.random.default_rng(0).normal(size=(8, 8, 32))
    found = findings.position_finding(_grid_similarity(noise), random_weights=True)
    assert not found.structured and "as expected of untrained, random weights" in found.text
    assert found.chance == pytest.approx(np.mean([(min(r, 1) + 1 + min(7 - r, 1)) * (min(c, 1) + 1 + min(7 - c, 1))
                                                  - 1 for r in range(8) for c in range(8)]) / 63)


def test_subtracting_the_mean_embedding_matches_numpy():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=0)
    with torch.no_grad():
        model.pos_embed.normal_()
        model.pos_embed.add_(3.0)  # a large shared component: every raw cosine is high
    e = patch_position_embeddings(model).numpy()
    centred = pos_embed_similarity(model, subtract_mean=True).numpy()
    assert np.allclose(centred, _grid_similarity(e - e.mean((0, 1), keepdims=True)), atol=1e-5)
    assert pos_embed_similarity(model).numpy().min() > 0.5 > centred.min()


def test_learned_tokens_counts_in_words():
    assert [findings.learned_tokens(n) for n in (0, 1, 5)] == ["no learned token", "1 learned token",
                                                                "5 learned tokens"]


def test_token_strip_is_one_row_of_every_token():
    image = np.random.default_rng(0).integers(0, 256, (96, 160, 3), dtype=np.uint8)  # 6 x 10 patches of 16
    strip = rendering.token_strip(image, (6, 10), (16, 16), ("cls", "reg0"), figures.PREFIX_COLOURS, cell=32, gap=3)
    assert strip.shape == (32 + 18, 62 * 35 - 3, 3)  # 2 prefix + 60 patches side by side, one row
    assert np.array_equal(strip[5, 5], figures.PREFIX_COLOURS["cls"])
    x0 = (2 + 1 * 10 + 3) * 35  # token of patch (1, 3)
    assert np.array_equal(strip[:32:2, x0:x0 + 32:2], image[16:32, 48:64])  # the patch, enlarged 2x


def test_roughness_tells_noise_from_smooth_bases():
    from viz_app.findings import filters_finding, roughness

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(8, 3, 16, 16))
    y, x = np.mgrid[0:16, 0:16] / 15.0
    smooth = np.stack([np.stack([np.cos(np.pi * (a * x + b * y))] * 3) for a, b in [(1, 0), (0, 1), (1, 1), (0.5, 0)]])
    assert np.allclose(roughness(noise), 1.0, atol=0.15)
    assert (roughness(smooth) < 0.05).all()
    assert filters_finding(noise, np.full(8, 0.02)).kind == "noisy"
    found = filters_finding(smooth, np.array([0.4, 0.2, 0.1, 0.05]))
    assert found.kind == "smooth" and "75.0%" in found.text and "40.0%" in found.text, found.text


def test_the_filters_caption_says_what_the_bundled_model_shows():
    """Issue 33.6: the caption promised smooth bases over 28 noise-like tiles; it now follows the measurement."""
    from vit_core.models.loading import load_model
    from vit_core.runs.analysis import analyze
    from viz_app import figures, resources
    from viz_app.findings import NOISY_ABOVE, SMOOTH_BELOW, filters_finding, roughness

    spec = resources.default_model_spec()
    loaded = load_model(spec.name, pretrained=spec.pretrained)
    pixels, _, _ = resources.model_input(loaded, (resources.SAMPLES_DIR / "scene_ring.png").read_bytes())
    result = analyze(loaded, pixels, relevance=False, attention="none")
    comps, variance = result.patch_embed_pcs, result.patch_embed_pcs_variance
    found = filters_finding(comps, variance)
    median = float(np.median(roughness(comps)))
    expected = "smooth" if median < SMOOTH_BELOW else "noisy" if median > NOISY_ABOVE else "mixed"
    assert found.kind == expected and f"{median:.2f}" in found.text
    assert "smooth, low-frequency bases, much like" not in found.text or found.kind == "smooth"
    fig = figures.filters_figure(comps, variance)
    printed = [a.text for a in fig.layout.annotations if a.name == "variance"]
    assert printed == [f"{float(v):.1%}" for v in variance]
    print(found.text)
