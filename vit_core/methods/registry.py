"""Every explanation method by one short name, as maps ``[batch, gh, gw]``: what ``evaluate``, ``analyze
--methods`` and the app's Faithfulness page call, so each method's settings live in one place.

:data:`REGISTRY` is the one list of methods: each :class:`MethodSpec` says how to compute it, under which
result field / .npz key ``analyze`` writes it, whether it explains one class, what it costs and the catalogue
key of its name. The command line's ``--methods`` choices and help, ``evaluate``'s list, the analysis file's
keys and the Faithfulness page's choices and defaults are all read from it (recipe: docs/ARCHITECTURE.md,
"Add a method").

Names: raw (last-layer attention), rollout, flow (attention flow), relevance (GAE: Chefer et al. ICCV 2021),
gradcam, lrp, legrad (Bousselham et al. 2024), transformer_attribution (Chefer et al. CVPR 2021) and the
baselines random and centre; each spec's ``paper`` names its source in the command line's help.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ..attention.capture import capture
from ..errors import NotAvailableError, SettingsError
from ..models.geometry import geometry_of
from .attention_flow import DEFAULT_SCALE, attention_flow
from .baselines import centre_map, random_map
from .gradcam import gradcam
from .legrad import DEFAULT_START_LAYER, legrad
from .lrp import LrpRule, check_lrp_support, lrp
from .raw_attention import raw_attention
from .readout import DistilledReadout, read_out_product
from .relevance import class_relevance
from .rollout import RolloutSettings, RolloutSink
from .transformer_attribution import check_transformer_attribution_support, transformer_attribution

__all__ = [
    "Cost",
    "MethodCall",
    "MethodSpec",
    "REGISTRY",
    "METHODS",
    "BASELINES",
    "DEFAULT_METHODS",
    "ANALYZE_KEYS",
    "ANALYZE_METHODS",
    "ANALYZE_DEFAULT",
    "FAITHFULNESS_DEFAULT",
    "ExplainSettings",
    "sources",
    "refusals",
    "parse_methods",
    "rollout_map",
    "explanation_maps",
]

Cost = Literal["free", "forward", "backward", "slow"]  # none, one forward, forward and backward, seconds per image


@dataclass(frozen=True)
class ExplainSettings:
    """The settings of every method (recorded in reports).

    Attributes:
        rollout: rollout settings; also the capacities of attention flow and the head fusion of raw attention.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        gradcam_block: Grad-CAM's block (None: :func:`vit_core.methods.gradcam.default_gradcam_block`).
        lrp_rule: "cp" or "attnlrp".
        flow_scale: attention flow's integer capacity scale.
        legrad_start: LeGrad's first entering block (negative counts from the end; default the last two, as the
            published code).
        seed: the random baseline's seed.
        flow_workers: processes solving attention flow's max-flow problems (not recorded: the flows are the same
            integers on any number).
    """

    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    distilled: DistilledReadout = "mean"
    gradcam_block: int | None = None
    lrp_rule: LrpRule = "cp"
    flow_scale: int = DEFAULT_SCALE
    legrad_start: int = DEFAULT_START_LAYER
    seed: int = 0
    flow_workers: int = 1

    def describe(self) -> dict:
        return {
            "rollout": {
                "head_fusion": self.rollout.head_fusion,
                "discard_ratio": self.rollout.discard_ratio,
                "residual_weight": self.rollout.residual_weight,
                "start_layer": self.rollout.start_layer,
            },
            "raw_attention_head_fusion": self.rollout.head_fusion,
            "distilled_readout": self.distilled,
            "gradcam_block": "default (last block whose patch outputs reach the readout)"
            if self.gradcam_block is None
            else self.gradcam_block,
            "lrp_rule": self.lrp_rule,
            "flow_capacity_scale": self.flow_scale,
            "legrad_start_layer": self.legrad_start,
            "random_seed": self.seed,
        }


@dataclass(frozen=True)
class MethodCall:
    """What a method's compute function is given: the model, a batch ``[batch, 3, h, w]``, the class to explain
    ``[batch]`` (class-agnostic methods ignore it), the settings and attention flow's progress callback."""

    model: nn.Module
    pixel_values: torch.Tensor
    target: torch.Tensor
    settings: ExplainSettings
    flow_progress: Callable[[int, int], None] | None = None


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method.

    Attributes:
        compute: the call -> its maps ``[batch, gh, gw]``.
        field: the ``AnalysisResult`` field and .npz key ``analyze --methods`` writes it under; None: evaluate only.
        class_specific: it explains one class (uses the target).
        cost: "free", "forward", "backward" or "slow" (the Faithfulness page runs slow ones last, not by default).
        label_key: the catalogue key of its name on screen.
        baseline: a baseline the others are compared against (not an explanation).
        analyze_default: written by ``analyze`` when ``--methods`` is not given.
        in_analysis: ``vit_core.runs.analysis.analyze`` computes it in its own pass (not through ``compute``).
        paper: its source in a few words (the command line's help), so same-author methods are told apart.
        check: raises ``NotAvailableError`` (one sentence) for a model the method does not cover, before any work;
            None: every model the lab takes (:func:`refusals` asks it, so defaults can leave such a method out).
    """

    compute: Callable[[MethodCall], torch.Tensor]
    field: str | None
    class_specific: bool
    cost: Cost
    label_key: str
    baseline: bool = False
    analyze_default: bool = False
    in_analysis: bool = False
    paper: str = ""
    check: Callable[[nn.Module], None] | None = None


def _grid(call: MethodCall) -> tuple[int, int]:
    return geometry_of(call.model, tuple(call.pixel_values.shape[-2:])).grid_size


def parse_methods(text: str | Sequence[str]) -> tuple[str, ...]:
    """Method names from "raw,rollout,..." (order kept, duplicates dropped), or a clear refusal."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise SettingsError(f"unknown method {', '.join(unknown) or '(none)'}; choose from {','.join(METHODS)}.")
    return tuple(dict.fromkeys(names))


@torch.no_grad()
def rollout_map(model: nn.Module, pixel_values: torch.Tensor, settings: RolloutSettings, distilled: DistilledReadout = "mean") -> torch.Tensor:
    """The rollout's readout row over the patches ``[batch, gh, gw]``, streamed (R never formed)."""
    sink = RolloutSink(settings, num_prefix_tokens=model.num_prefix_tokens)
    result = capture(model, pixel_values, sink=sink)
    return read_out_product(sink.left_product, result.geometry, pixel_values.shape[0], result.logits.device,
                            distilled=distilled, pool_attention=result.pool_attention)[0]


def _flow(c: MethodCall) -> torch.Tensor:
    s = c.settings
    return attention_flow(c.model, c.pixel_values, settings=s.rollout, distilled=s.distilled, scale=s.flow_scale,
                          progress=c.flow_progress, workers=s.flow_workers).heatmap


# The one list of methods, in the order every interface shows them.
REGISTRY: dict[str, MethodSpec] = {
    "raw": MethodSpec(
        lambda c: raw_attention(c.model, c.pixel_values, head_fusion=c.settings.rollout.head_fusion,
                                distilled=c.settings.distilled).heatmap,
        field="raw_attention", class_specific=False, cost="forward", label_key="faith.method.raw",
        paper="the last layer's readout attention, every paper's baseline"),
    "rollout": MethodSpec(
        lambda c: rollout_map(c.model, c.pixel_values, c.settings.rollout, c.settings.distilled),
        field="rollout", class_specific=False, cost="forward", label_key="faith.method.rollout",
        analyze_default=True, in_analysis=True, paper="Abnar & Zuidema 2020"),
    "flow": MethodSpec(_flow, field="attention_flow", class_specific=False, cost="slow", label_key="faith.method.flow",
                       paper="Abnar & Zuidema 2020"),
    "relevance": MethodSpec(
        lambda c: class_relevance(c.model, c.pixel_values, target_class=c.target, distilled=c.settings.distilled).heatmap,
        field="relevance", class_specific=True, cost="backward", label_key="faith.method.relevance",
        analyze_default=True, in_analysis=True, paper="GAE, Chefer et al. ICCV 2021"),
    "gradcam": MethodSpec(
        lambda c: gradcam(c.model, c.pixel_values, target_class=c.target, block=c.settings.gradcam_block).heatmap,
        field="gradcam", class_specific=True, cost="backward", label_key="faith.method.gradcam",
        paper="Selvaraju et al. 2017"),
    "lrp": MethodSpec(
        lambda c: lrp(c.model, c.pixel_values, target_class=c.target, rule=c.settings.lrp_rule).heatmap,
        field="lrp", class_specific=True, cost="backward", label_key="faith.method.lrp",
        paper="CP-LRP, Ali et al. ICML 2022", check=check_lrp_support),
    "legrad": MethodSpec(
        lambda c: legrad(c.model, c.pixel_values, target_class=c.target, start_layer=c.settings.legrad_start).heatmap,
        field="legrad", class_specific=True, cost="backward", label_key="faith.method.legrad",
        paper="LeGrad, Bousselham et al. 2024"),
    "transformer_attribution": MethodSpec(
        lambda c: transformer_attribution(c.model, c.pixel_values, target_class=c.target,
                                          distilled=c.settings.distilled).heatmap,
        field="transformer_attribution", class_specific=True, cost="backward",
        label_key="faith.method.transformer_attribution", paper="Chefer et al. CVPR 2021",
        check=check_transformer_attribution_support),
    "random": MethodSpec(
        lambda c: random_map(c.pixel_values.shape[0], _grid(c), seed=c.settings.seed, device=c.pixel_values.device),
        field=None, class_specific=False, cost="free", label_key="faith.method.random", baseline=True),
    "centre": MethodSpec(
        lambda c: centre_map(c.pixel_values.shape[0], _grid(c), device=c.pixel_values.device),
        field=None, class_specific=False, cost="free", label_key="faith.method.centre", baseline=True),
}

METHODS: tuple[str, ...] = tuple(REGISTRY)
BASELINES: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.baseline)
DEFAULT_METHODS: tuple[str, ...] = METHODS  # evaluate's default: every method
# the array name each method gets in an analysis file (the baselines are evaluate's only)
ANALYZE_KEYS: dict[str, str] = {name: spec.field for name, spec in REGISTRY.items() if spec.field is not None}
ANALYZE_METHODS: tuple[str, ...] = tuple(ANALYZE_KEYS)
ANALYZE_DEFAULT: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.analyze_default)
# the Faithfulness page's first choice: every method but the slow ones
FAITHFULNESS_DEFAULT: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.cost != "slow")


def refusals(model: nn.Module, names: Sequence[str]) -> dict[str, NotAvailableError]:
    """name -> the refusal of each of `names` whose ``check`` does not cover `model` (empty: all run)."""
    refused = {}
    for name in parse_methods(names):
        check = REGISTRY[name].check
        try:
            if check is not None:
                check(model)
        except NotAvailableError as error:
            refused[name] = error
    return refused


def sources(names: Sequence[str]) -> str:
    """"name: paper; ..." for those of `names` whose spec names its paper (the command line's help)."""
    return "; ".join(f"{n}: {REGISTRY[n].paper}" for n in names if REGISTRY[n].paper)


def explanation_maps(
    model: nn.Module,
    pixel_values: torch.Tensor,
    methods: Sequence[str],
    *,
    target: torch.Tensor,
    settings: ExplainSettings | None = None,
    flow_progress: Callable[[int, int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """name -> maps ``[batch, gh, gw]`` float32 on the input's device, for the target class ``[batch]``.

    Class-agnostic methods (raw, rollout, flow, the baselines) ignore the target.
    """
    call = MethodCall(model, pixel_values, target, settings or ExplainSettings(), flow_progress)
    out = {}
    for name in parse_methods(methods):
        out[name] = REGISTRY[name].compute(call).detach().float().to(pixel_values.device)
    return out
