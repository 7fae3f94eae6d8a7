"""The lesson's arithmetic: the rollout step-through against vit_core's rollout and a plain numpy product, the
predict-then-reveal answers on maps built so the answer is known, and the relevance and faithfulness answers on a
real image against the same quantities computed directly with vit_core."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_core.methods import RolloutSettings, attention_rollout
from viz_app import lesson
from viz_app.ground_truth import GROW, SceneObject


def _attention(layers=4, heads=3, tokens=10, seed=0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(1, layers, heads, tokens, tokens))
    return torch.from_numpy(logits).softmax(-1).float().numpy()  # [1, layer, head, query, key]


def _numpy_rollout(attention: np.ndarray, a: float, start: int) -> np.ndarray:
    """(1 − a)·mean_heads(A_l) + a·I, rows normalised, multiplied B_L ... B_start (docs/METHODS.md, "Attention rollout"), in float64."""
    product = np.eye(attention.shape[-1])
    for layer in range(start, attention.shape[1]):
        b = (1 - a) * attention[0, layer].astype(np.float64).mean(0) + a * np.eye(attention.shape[-1])
        b /= b.sum(-1, keepdims=True)
        product = b @ product
    return product


def test_last_step_is_the_rollout():
    attention = _attention()
    settings = RolloutSettings()
    steps = lesson.rollout_steps(attention, settings, num_prefix_tokens=1)
    assert [s.layer for s in steps] == [0, 1, 2, 3]
    reference = attention_rollout(torch.from_numpy(attention), settings, num_prefix_tokens=1)[0].numpy()
    np.testing.assert_allclose(steps[-1].product, reference, atol=1e-5)
    np.testing.assert_allclose(steps[-1].product, _numpy_rollout(attention, 0.5, 0), atol=1e-5)


def test_each_step_is_the_product_so_far():
    attention = _attention(seed=1)
    settings = RolloutSettings(residual_weight=0.3, start_layer=1)
    steps = lesson.rollout_steps(attention, settings, num_prefix_tokens=1)
    assert steps[0].layer == 1
    for step in steps:
        expected = _numpy_rollout(attention[:, : step.layer + 1], 0.3, 1)
        np.testing.assert_allclose(step.product, expected, atol=1e-5)
        np.testing.assert_allclose(step.factor.sum(-1), 1.0, atol=1e-5)


def test_strongest_quarter():
    for quarter, (r, c) in zip(lesson.QUARTERS, [(0, 0), (0, 5), (5, 0), (5, 5)], strict=True):
        heat = np.zeros((6, 6))
        heat[r, c] = 1.0
        assert lesson.strongest_quarter(heat) == quarter
    odd = np.zeros((5, 5))
    odd[2, 4] = 1.0  # the middle row counts half to the top, half to the bottom
    odd[4, 4] = 0.1
    assert lesson.strongest_quarter(odd) == "bottom_right"


def test_most_similar_neighbour():
    gh = gw = 5
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    near = -np.hypot(rows[:, :, None, None] - rows[None, None], cols[:, :, None, None] - cols[None, None])
    assert lesson.most_similar_is_neighbour(near, 2, 2)
    assert not lesson.most_similar_is_neighbour(-near, 2, 2)  # most similar = farthest


def test_heads_agree_and_local_heads():
    base = np.random.default_rng(0).random((4, 4))
    assert lesson.heads_agree(np.stack([base, base * 2, base + 0.1]))
    assert not lesson.heads_agree(np.stack([base, 1 - base]))
    distance = np.full((6, 3), 50.0)
    distance[1, 2] = 5.0
    assert lesson.local_heads_early(distance)
    distance[1, 2], distance[5, 0] = 50.0, 5.0
    assert not lesson.local_heads_early(distance)


def test_relevance_peak_names_the_object_under_the_peak():
    objects = [SceneObject("ring", (0, 0, 64, 64)), SceneObject("star", (128, 128, 192, 192))]  # x0, y0, x1, y1 px
    heat = np.zeros((14, 14))
    heat[9, 10] = 1.0  # patch centre (168, 152) px: inside the star's box
    assert lesson.relevance_peak(heat, (16, 16), objects) == "star"
    heat[1, 2] = 2.0  # (40, 24): the ring's
    assert lesson.relevance_peak(heat, (16, 16), objects) == "ring"
    heat[1, 12] = 3.0  # (200, 24): far from both boxes
    assert lesson.relevance_peak(heat, (16, 16), objects) == lesson.BACKGROUND


def test_contrast_class():
    names = ["circle", "ring", "star", "cross"]
    assert lesson.contrast_class(1, names, ["ring", "star"], [1, 3, 2]) == 2  # the scene's other object
    assert lesson.contrast_class(1, names, ["ring", "dog"], [1, 3, 2]) == 3  # unknown object: the runner-up
    assert lesson.contrast_class(1, names, [], [1, 3]) == 3
    assert lesson.contrast_class(1, names, [], [1]) is None


@pytest.fixture(scope="module")
def scene():
    """The default model, the two-object sample scene, its input and the model's top class."""
    from vit_core.models.loading import load_model
    from viz_app import resources

    spec = resources.default_model_spec()
    loaded = load_model(spec.name, pretrained=spec.pretrained)
    data = (resources.SAMPLES_DIR / "pair_ring_star.png").read_bytes()
    pixel_values, view, mapping = resources.model_input(loaded, data)
    with torch.no_grad():
        top = int(loaded.model(pixel_values).argmax(-1)[0])
    return loaded, data, pixel_values, mapping, top


def test_relevance_answer_is_the_peak_of_chefer_relevance_in_a_true_box(scene):
    """The step's answer (from the analysis the app caches) against Chefer relevance computed directly and its peak
    patch's centre tested against the scene's boxes (grown by GROW px) by hand."""
    import hashlib

    from vit_core.methods import class_relevance
    from vit_core.runs.analysis import analyze
    from viz_app import resources
    from viz_app.ground_truth import objects_in_view

    loaded, data, pixel_values, mapping, top = scene
    truth = resources.scene_ground_truth()[hashlib.sha256(data).hexdigest()]
    objects = objects_in_view(truth, mapping)
    analysis = analyze(loaded, pixel_values, attention="none")
    assert int(analysis.relevance_target[0]) == top
    answer = lesson.relevance_peak(analysis.relevance[0], loaded.geometry.patch_size, objects)

    heat = class_relevance(loaded.model, pixel_values, target_class=top).heatmap[0].detach().numpy()
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    ph, pw = loaded.geometry.patch_size
    x, y = (col + 0.5) * pw, (row + 0.5) * ph
    inside = [o.label for o in objects if o.box[0] - GROW <= x <= o.box[2] + GROW and o.box[1] - GROW <= y <= o.box[3] + GROW]
    assert len(inside) <= 1  # the two objects' grown boxes do not overlap at the peak
    assert answer == (inside[0] if inside else lesson.BACKGROUND)


@pytest.mark.parametrize("name", ["pair_ring_star.png", "chelsea.png"])
def test_faithfulness_answer_matches_token_removal_computed_directly(scene, name):
    """The race the step reads (the Faithfulness page's cached computation) against token-removal curves of the
    analysis's rollout map and the seeded random map, computed here with vit_core.faithfulness in one batch."""
    from vit_core.faithfulness import FRACTIONS, auc, token_removal_curves
    from vit_core.methods.baselines import random_map
    from vit_core.methods.registry import ExplainSettings
    from vit_core.runs.analysis import analyze
    from viz_app import resources
    from viz_app.faithfulness_data import method_results

    loaded = scene[0]
    data = (resources.SAMPLES_DIR / name).read_bytes()
    pixel_values, _, _ = resources.model_input(loaded, data)
    analysis = analyze(loaded, pixel_values, relevance=False, attention="none")
    top = int(analysis.logits[0].argmax())
    race = lesson.removal_race(method_results(f"test_lesson {name}", lesson.RACE_METHODS, top, loaded, data))

    maps = torch.stack([torch.from_numpy(analysis.rollout), random_map(1, loaded.geometry.grid_size,
                                                                        seed=ExplainSettings().seed)])
    curves = token_removal_curves(loaded.model, pixel_values, maps, torch.tensor([top]), order="positive")
    rollout_auc, random_auc = auc(curves.probability[:, 0], FRACTIONS)  # [method]
    np.testing.assert_allclose(race.fractions, FRACTIONS)
    np.testing.assert_allclose(race.rollout, curves.probability[0, 0], atol=1e-4)
    np.testing.assert_allclose(race.random, curves.probability[1, 0], atol=1e-4)
    np.testing.assert_allclose([race.rollout_auc, race.random_auc], [rollout_auc, random_auc], atol=1e-4)
    assert race.rollout_faster == (rollout_auc < random_auc)
    assert race.rollout[0] == pytest.approx(float(torch.from_numpy(analysis.logits[0]).softmax(-1)[top]), abs=1e-4)


def test_rollout_faster_is_a_lower_area():
    flat = np.full(10, 0.5)
    race = lesson.RemovalRace(np.arange(10) / 10, flat * 0.5, flat, rollout_auc=0.2, random_auc=0.45)
    assert race.rollout_faster
    assert not lesson.RemovalRace(race.fractions, flat, flat, rollout_auc=0.45, random_auc=0.45).rollout_faster


def test_a_peak_is_a_claim_only_by_a_clear_margin():
    """Issue 33: the ring's relevance 'peaked on the ring' by 1.000 against 0.997 on the star."""
    from viz_app.ground_truth import CLEAR_MARGIN, describe_peak, read_peak

    objects = [SceneObject("ring", (0, 0, 64, 64)), SceneObject("star", (128, 128, 192, 192))]
    heat = np.zeros((14, 14))
    heat[1, 2] = 1.0  # the ring's patch
    heat[9, 10] = 0.997  # the star's
    reading = read_peak(heat, (16, 16), objects)
    assert reading.winner.label == "ring" and reading.runner_up.label == "star"
    assert reading.margin == pytest.approx(0.003) and not reading.clear
    text = describe_peak(reading, "ring", ["ring", "star"])
    assert "no clear winner" in text and "✓" not in text and "0.997" in text, text
    heat[9, 10] = 0.5
    heat[5, 13] = 0.6  # (216, 88) px: the background's best patch, better than the star's
    reading = read_peak(heat, (16, 16), objects)
    assert reading.runner_up is None and reading.margin == pytest.approx(0.4) and reading.margin >= CLEAR_MARGIN
    text = describe_peak(reading, "ring", ["ring", "star"])
    assert "✓" in text and "0.40" in text and "background" in text, text


def test_the_default_scene_lights_up_each_object_by_a_clear_margin():
    """The lesson's step 7 claim on the app's first scene, with the bundled model: each object's class relevance has
    its best patch inside that object's grown box, beating the best patch outside it by CLEAR_MARGIN of the range
    (computed here from Chefer relevance and the boxes by hand)."""
    import hashlib

    from vit_core.methods import class_relevance
    from vit_core.models.loading import load_model
    from viz_app import resources, sidebar
    from viz_app.ground_truth import CLEAR_MARGIN, objects_in_view

    spec = resources.default_model_spec()
    loaded = load_model(spec.name, pretrained=spec.pretrained)
    data = (resources.SAMPLES_DIR / sidebar.FIRST_SCENE).read_bytes()
    pixel_values, _, mapping = resources.model_input(loaded, data)
    objects = objects_in_view(resources.scene_ground_truth()[hashlib.sha256(data).hexdigest()], mapping)
    names = list(loaded.label_names)
    assert len(objects) == 2
    ph, pw = loaded.geometry.patch_size
    for obj in objects:
        heat = class_relevance(loaded.model, pixel_values, target_class=names.index(obj.label)).heatmap[0]
        heat = heat.detach().double().numpy()
        scaled = (heat - heat.min()) / (heat.max() - heat.min())
        rows, cols = np.indices(heat.shape)
        x, y = (cols + 0.5) * pw, (rows + 0.5) * ph
        x0, y0, x1, y1 = obj.box
        own = (x >= x0 - GROW) & (x < x1 + GROW) & (y >= y0 - GROW) & (y < y1 + GROW)
        assert scaled[own].max() == 1.0, obj.label
        assert 1.0 - scaled[~own].max() >= CLEAR_MARGIN, (obj.label, scaled[~own].max())
