"""How logits become class probabilities: softmax or per-class sigmoid, as the model was trained."""

from __future__ import annotations

import math

import pytest
import torch

from vit_core.models.predict import class_probabilities, top_k


def test_sigmoid_output_scores_each_class_on_its_own():
    """Hand-computed: logits (2, 2, -3) read as presences 0.881, 0.881, 0.047 (two classes present); as softmax
    they share one unit, so neither passes one half."""
    logits = torch.tensor([[2.0, 2.0, -3.0]])
    presence = class_probabilities(logits, "sigmoid")[0]
    expected = [1 / (1 + math.exp(-2.0))] * 2 + [1 / (1 + math.exp(3.0))]
    assert presence.tolist() == pytest.approx(expected, abs=1e-6)
    shared = class_probabilities(logits, "softmax")[0]
    assert float(shared.sum()) == pytest.approx(1.0) and float(shared.max()) < 0.5


def test_top_k_reads_the_logits_as_the_model_says():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    [softmax_row] = top_k(logits, ("a", "b", "c"), k=2)
    [sigmoid_row] = top_k(logits, ("a", "b", "c"), k=2, output="sigmoid")
    assert [p.label for p in sigmoid_row] == ["b", "c"] == [p.label for p in softmax_row]
    assert sigmoid_row[0].probability == pytest.approx(1 / (1 + math.exp(-3.0)), abs=1e-6)
    assert softmax_row[0].probability == pytest.approx(math.exp(3) / (1 + math.exp(3) + math.e), abs=1e-6)


def test_an_unknown_class_output_is_refused():
    with pytest.raises(ValueError, match="softmax, sigmoid"):
        class_probabilities(torch.zeros(1, 3), "tanh")


def test_class_specific_methods_refuse_a_backbone_in_one_sentence():
    """A timm backbone (num_classes=0) outputs its feature: relevance, Grad-CAM and LRP refuse it rather than explain
    the argmax of a feature vector; the same architecture with a classifier is explained."""
    import timm

    from vit_core.errors import NotAvailableError
    from vit_core.methods.gradcam import gradcam
    from vit_core.methods.lrp import lrp
    from vit_core.methods.relevance import class_relevance
    from vit_core.models.geometry import geometry_of
    from vit_core.models.predict import feature_note, has_classifier

    torch.manual_seed(0)
    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32).eval()
    classifier = timm.create_model("test_vit", pretrained=False, num_classes=3, img_size=32).eval()
    pixels = torch.randn(1, 3, 32, 32)
    assert not has_classifier(backbone) and has_classifier(classifier)
    for method in (class_relevance, gradcam, lrp):
        with pytest.raises(NotAvailableError, match="explains a class, and this model has no classifier") as refused:
            method(backbone, pixels)
        assert refused.value.args[0].replace("et al. ", "").count(". ") == 0
        assert method(classifier, pixels).heatmap.shape == (1, 2, 2)
    note = feature_note(geometry_of(backbone))
    assert "outputs a 64-number feature (its class token)" in note
