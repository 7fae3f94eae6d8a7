"""The shared analysis cache: bounded by bytes (least recently used first), one computation per key however many
sessions ask at once, and the app's analyses sized by their arrays."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from viz_app import resources
from viz_app.byte_cache import ByteLRU, nbytes_of

MB = 2**20


def block(mb: int) -> np.ndarray:
    return np.zeros(mb * MB // 4, dtype=np.float32)


def test_evicts_least_recently_used_by_bytes():
    cache = ByteLRU(10 * MB)
    for key in ("a", "b", "c"):
        cache.get_or_compute(key, lambda: block(4))  # 12 MB asked, 10 MB allowed
    assert "a" not in cache and "b" in cache and "c" in cache
    assert cache.info().bytes == 8 * MB and cache.info().entries == 2
    cache.get_or_compute("b", lambda: pytest.fail("b is cached"))  # b is now the most recent
    cache.get_or_compute("d", lambda: block(4))
    assert "c" not in cache and "b" in cache and "d" in cache
    assert cache.info().bytes <= cache.limit


def test_entries_of_different_sizes_count_their_bytes_not_their_number():
    cache = ByteLRU(10 * MB)
    for index in range(9):
        cache.get_or_compute(index, lambda: block(1))
    assert cache.info().entries == 9  # nine 1 MB entries fit
    cache.get_or_compute("big", lambda: block(8))
    assert cache.info().entries == 3 and cache.info().bytes == 10 * MB  # the big one pushed out seven


def test_a_value_larger_than_the_bound_is_kept_alone():
    cache = ByteLRU(2 * MB)
    cache.get_or_compute("small", lambda: block(1))
    value = cache.get_or_compute("huge", lambda: block(3))
    assert value.nbytes == 3 * MB and "huge" in cache and "small" not in cache


def test_one_computation_for_sessions_asking_at_once():
    cache = ByteLRU(10 * MB)
    calls = []

    def compute():
        calls.append(threading.get_ident())
        time.sleep(0.2)
        return block(1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("same", compute)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(results) == 8
    assert all(r is results[0] for r in results)  # the same arrays, shared


def test_a_failed_computation_is_not_cached():
    cache = ByteLRU(MB)
    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(RuntimeError("bad image")))
    assert "k" not in cache and cache.get_or_compute("k", lambda: block(0)).nbytes == 0


def test_the_bound_comes_from_the_setting(monkeypatch):
    monkeypatch.setenv(resources.ANALYSIS_CACHE_ENV, "512")
    assert resources.analysis_cache_limit_bytes() == 512 * MB
    for bad in ("lots", "-3", "0"):
        monkeypatch.setenv(resources.ANALYSIS_CACHE_ENV, bad)
        assert resources.analysis_cache_limit_bytes() == resources.ANALYSIS_CACHE_DEFAULT_MB * MB
    monkeypatch.delenv(resources.ANALYSIS_CACHE_ENV)
    assert resources.analysis_cache_limit_bytes() == 2048 * MB


def _test_vit_context():
    """A Context as the app's router makes it, for random-weight test_vit and the first sample image."""
    from viz_app.state import ModelSpec

    label, data = next(iter(resources.sample_images().items()))
    return resources.prepare_context(ModelSpec("test_vit", pretrained=False), resources.image_from_bytes(data, label))


def test_an_analysis_weighs_the_sum_of_its_arrays_and_layers():
    from vit_core.models.loading import load_model

    loaded = load_model("test_vit", pretrained=False)
    data = resources.sample_images()[next(iter(resources.sample_images()))]
    result, view, mapping, layers = resources._analyze(loaded, data, resources.AnalysisSettings())
    assert layers is not None and layers.head_fusion == "mean" and layers.nbytes > 0
    expected = sum(a.nbytes for a in result.arrays().values()) + view.nbytes + layers.nbytes
    assert result.attention is not None and nbytes_of((result, view, mapping, layers)) == expected
    assert expected > result.attention.nbytes > 0


def test_the_apps_analysis_keeps_its_mean_layers_and_other_fusions_within_their_bound(monkeypatch):
    """The analysis' own mean-fused layers travel with it (the first discard or clicked patch builds nothing; they
    equal the layers rebuilt from the attention); other fusions are built once and kept while they fit their bound,
    here one of two, the least recently used going first."""
    from vit_core.results import rollout_layers

    resources._fused.clear()
    resources._analyses.clear()
    try:
        ctx = _test_vit_context()
        rebuilt = rollout_layers.fused_layers(ctx.analysis, "mean")
        one = rebuilt.nbytes
        assert ctx.layers is not None and ctx.layers.nbytes == one
        np.testing.assert_allclose(ctx.layers.fused.numpy(), rebuilt.fused.numpy(), rtol=1e-5, atol=1e-6)
        monkeypatch.setattr(rollout_layers, "FUSED_BYTES", 3 * one)  # other fusions: 1.5 layers' worth
        built = []
        real = rollout_layers.fused_layers
        monkeypatch.setattr(rollout_layers, "fused_layers", lambda *a, **k: built.append(a[1]) or real(*a, **k))
        assert resources.fused_layers(ctx, "mean") is ctx.layers and not built  # the analysis' own
        maximum = resources.fused_layers(ctx, "max")
        assert built == ["max"] and resources.fused_layers(ctx, "max") is maximum  # kept
        resources.fused_layers(ctx, "min")
        info = resources._fused().info()
        assert built == ["max", "min"] and info.entries == 1 and info.bytes == one
        resources.fused_layers(ctx, "max")  # evicted by min: built again
        assert built == ["max", "min", "max"]
        assert resources.fused_layers(ctx, "mean") is ctx.layers and len(built) == 3
    finally:
        resources._fused.clear()
        resources._analyses.clear()


def test_room_is_made_before_a_value_is_computed():
    cache = ByteLRU(10 * MB)
    for key in ("a", "b"):
        cache.get_or_compute(key, lambda: block(4))
    cache.make_room(4 * MB)  # 8 + 4 > 10: the least recent goes before the new value exists
    assert "a" not in cache and "b" in cache and cache.info().bytes == 4 * MB
    cache.make_room(6 * MB)  # fits already
    assert "b" in cache
