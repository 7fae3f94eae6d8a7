"""Explanation methods over captured attention: pure, batched torch functions on the tensors' device, and the
registry that names them (formulas and papers: docs/METHODS.md); none of these modules draws or imports a UI library."""

from __future__ import annotations

from .attention_flow import AttentionFlow, attention_flow
from .baselines import centre_map, random_map
from .distance import attention_entropy, mean_attention_distance, patch_centres, patch_distances
from .gradcam import GradCam, default_gradcam_block, gradcam
from .legrad import LeGrad, legrad
from .lrp import Lrp, LrpRule, lrp
from .patch_embed import patch_embed_components
from .pos_embed import patch_position_embeddings, pos_embed_similarity
from .raw_attention import RawAttention, raw_attention
from .readout import DistilledReadout, output_row, readout, split_tokens
from .relevance import Relevance, class_relevance, relevance_from_gradients, resolve_targets
from .rollout import (
    HEAD_FUSIONS,
    HeadFusion,
    RolloutSettings,
    RolloutSink,
    attention_rollout,
    discard_lowest,
    fuse_heads,
    rollout_layer_matrix,
)
from .token_attention import QueryToken, class_token_attention, resolve_query, token_attention, token_rollout
from .transformer_attribution import TransformerAttribution, transformer_attribution

__all__ = [
    "HEAD_FUSIONS",
    "HeadFusion",
    "RolloutSettings",
    "RolloutSink",
    "attention_rollout",
    "discard_lowest",
    "fuse_heads",
    "rollout_layer_matrix",
    "DistilledReadout",
    "output_row",
    "readout",
    "split_tokens",
    "Relevance",
    "class_relevance",
    "relevance_from_gradients",
    "resolve_targets",
    "QueryToken",
    "class_token_attention",
    "resolve_query",
    "token_attention",
    "token_rollout",
    "attention_entropy",
    "mean_attention_distance",
    "patch_centres",
    "patch_distances",
    "patch_embed_components",
    "patch_position_embeddings",
    "pos_embed_similarity",
    "RawAttention",
    "raw_attention",
    "AttentionFlow",
    "attention_flow",
    "GradCam",
    "default_gradcam_block",
    "gradcam",
    "Lrp",
    "LrpRule",
    "lrp",
    "LeGrad",
    "legrad",
    "TransformerAttribution",
    "transformer_attribution",
    "random_map",
    "centre_map",
]
