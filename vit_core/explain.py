"""Every explanation method by one short name, as maps ``[batch, gh, gw]``: what ``evaluate``, ``analyze
--methods`` and the app's Faithfulness page call, so each method's settings live in one place.

Names: raw (last-layer attention), rollout, flow (attention flow), relevance (Chefer et al.), gradcam, lrp,
and the baselines random and centre.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .capture import capture
from .errors import SettingsError
from .geometry import geometry_of
from .methods.attention_flow import DEFAULT_SCALE, attention_flow
from .methods.baselines import centre_map, random_map
from .methods.gradcam import gradcam
from .methods.lrp import LrpRule, lrp
from .methods.raw_attention import raw_attention
from .methods.readout import DistilledReadout, readout_weights, split_tokens
from .methods.relevance import class_relevance
from .methods.rollout import RolloutSettings, RolloutSink

__all__ = ["METHODS", "BASELINES", "DEFAULT_METHODS", "ANALYZE_KEYS", "ExplainSettings", "parse_methods", "rollout_map", "explanation_maps"]

METHODS: tuple[str, ...] = ("raw", "rollout", "flow", "relevance", "gradcam", "lrp", "random", "centre")
BASELINES: tuple[str, ...] = ("random", "centre")
DEFAULT_METHODS: tuple[str, ...] = METHODS
# the array name each method gets in an analysis file
ANALYZE_KEYS: dict[str, str] = {
    "raw": "raw_attention",
    "rollout": "rollout",
    "flow": "attention_flow",
    "relevance": "relevance",
    "gradcam": "gradcam",
    "lrp": "lrp",
}


@dataclass(frozen=True)
class ExplainSettings:
    """The settings of every method (recorded in reports).

    Attributes:
        rollout: rollout settings; also the capacities of attention flow and the head fusion of raw attention.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        gradcam_block: Grad-CAM's block (None: :func:`vit_core.methods.gradcam.default_gradcam_block`).
        lrp_rule: "cp" or "attnlrp".
        flow_scale: attention flow's integer capacity scale.
        seed: the random baseline's seed.
        flow_workers: processes solving attention flow's max-flow problems (not recorded: the flows are the same
            integers on any number).
    """

    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    distilled: DistilledReadout = "mean"
    gradcam_block: int | None = None
    lrp_rule: LrpRule = "cp"
    flow_scale: int = DEFAULT_SCALE
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
            "random_seed": self.seed,
        }


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
    geometry = result.geometry
    weights = readout_weights(
        geometry,
        pixel_values.shape[0],
        result.logits.device,
        distilled=distilled,
        pool_attention=result.pool_attention,
        pool_include_prefix=bool(getattr(model, "pool_include_prefix", False)),
    )  # [batch, token]
    return split_tokens(sink.left_product(weights), geometry)[0]


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
    settings = settings or ExplainSettings()
    s = settings
    grid = geometry_of(model, tuple(pixel_values.shape[-2:])).grid_size
    batch, device = pixel_values.shape[0], pixel_values.device
    compute: dict[str, Callable[[], torch.Tensor]] = {
        "raw": lambda: raw_attention(model, pixel_values, head_fusion=s.rollout.head_fusion, distilled=s.distilled).heatmap,
        "rollout": lambda: rollout_map(model, pixel_values, s.rollout, s.distilled),
        "flow": lambda: attention_flow(
            model, pixel_values, settings=s.rollout, distilled=s.distilled, scale=s.flow_scale, progress=flow_progress,
            workers=s.flow_workers,
        ).heatmap,
        "relevance": lambda: class_relevance(model, pixel_values, target_class=target, distilled=s.distilled).heatmap,
        "gradcam": lambda: gradcam(model, pixel_values, target_class=target, block=s.gradcam_block).heatmap,
        "lrp": lambda: lrp(model, pixel_values, target_class=target, rule=s.lrp_rule).heatmap,
        "random": lambda: random_map(batch, grid, seed=s.seed, device=device),
        "centre": lambda: centre_map(batch, grid, device=device),
    }
    out = {}
    for name in parse_methods(methods):
        out[name] = compute[name]().detach().float().to(device)
    return out
