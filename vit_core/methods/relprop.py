"""The relevance-propagation rules of Chefer, Gur & Wolf, CVPR 2021 ("Transformer Interpretability Beyond
Attention Visualization", arXiv 2012.09838; their code: hila-chefer/Transformer-Explainability,
``modules/layers_ours.py``), as pure batched torch functions on explicit tensors (no autograd, no modules).

Each rule takes the relevance of an operation's output and returns that of its inputs; every one conserves the
sum of relevance except where a denominator is exactly zero (:func:`safe_divide`):

- :func:`linear_rule`: a linear layer with alpha = 1, beta = 0, without its bias: each output's relevance is
  split over the inputs in proportion to the positive contributions ``(x_i w_ji)^+`` (the positive parts of
  ``x^+ w^+`` and ``x^- w^-``);
- :func:`matmul_rule`: a product of two tensors (``q k^T``, ``A v``) by gradient x input, each operand getting
  its share (:data:`OPERAND_SHARE`, one half, so that the two operands together conserve);
- :func:`add_rule`: a residual sum ``x + branch``: gradient x input of each summand, each rescaled so that the
  two get the whole relevance in proportion to ``|sum|`` of their contributions (per image);
- LayerNorm, GELU, softmax, dropout pass relevance unchanged and a copy (``Clone``) sums its copies' relevance:
  no function is needed for those.
"""

from __future__ import annotations

import torch

__all__ = ["OPERAND_SHARE", "safe_divide", "linear_rule", "matmul_rule", "add_rule"]

EPS = 1e-9  # their stabiliser: a / (b + 1e-9), and 0 where b is exactly 0
OPERAND_SHARE = 0.5  # each operand of a product keeps half of its gradient x input (the two halves conserve)


def safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / (b + 1e-9)``, and 0 where ``b`` is exactly 0 (their ``safe_divide``)."""
    den = b + EPS
    den = torch.where(den == 0, torch.full_like(den, EPS), den)
    return torch.where(b == 0, torch.zeros_like(a / den), a / den)


def linear_rule(x: torch.Tensor, weight: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """LRP alpha = 1, beta = 0 through ``y = x W^T`` (the bias takes no part).

    Args:
        x: ``[..., in]`` the layer's input.
        weight: ``[out, in]``.
        relevance: ``[..., out]`` the relevance of its output.

    Returns:
        ``[..., in]``: ``R_i = x_i^+ sum_j w_ji^+ S_j + x_i^- sum_j w_ji^- S_j`` with ``S = R / z^+`` and
        ``z^+_j = sum_i (x_i w_ji)^+``.
    """
    w_pos, w_neg = weight.clamp(min=0), weight.clamp(max=0)
    x_pos, x_neg = x.clamp(min=0), x.clamp(max=0)
    positive = x_pos @ w_pos.T + x_neg @ w_neg.T  # [..., out] the positive contributions
    share = safe_divide(relevance, positive)
    return x_pos * (share @ w_pos) + x_neg * (share @ w_neg)


def matmul_rule(left: torch.Tensor, right: torch.Tensor, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient x input through ``z = left @ right``, each operand's share :data:`OPERAND_SHARE`.

    Args:
        left: ``[..., i, j]``.
        right: ``[..., j, d]``.
        relevance: ``[..., i, d]`` the relevance of z.

    Returns:
        (``[..., i, j]``, ``[..., j, d]``): ``share * left * (S right^T)`` and ``share * right * (left^T S)`` with
        ``S = R / z``; each before the share sums to the sum of R.
    """
    s = safe_divide(relevance, left @ right)
    return (OPERAND_SHARE * left * (s @ right.transpose(-2, -1)),
            OPERAND_SHARE * right * (left.transpose(-2, -1) @ s))


def _per_image_sum(x: torch.Tensor) -> torch.Tensor:
    return x.sum(dim=tuple(range(1, x.dim())), keepdim=True)


def add_rule(first: torch.Tensor, second: torch.Tensor, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sum ``z = first + second`` ``[batch, ...]``: gradient x input of each, rescaled per image.

    ``a = first * R / z`` and ``b = second * R / z``; then ``a`` is rescaled to sum to
    ``|sum a| / (|sum a| + |sum b|) * sum R`` and ``b`` likewise, so the two together conserve ``sum R`` whatever
    the signs (their ``Add``, the sums taken per image instead of over the whole batch).
    """
    s = safe_divide(relevance, first + second)
    a, b = first * s, second * s
    a_sum, b_sum = _per_image_sum(a), _per_image_sum(b)
    total, r_sum = a_sum.abs() + b_sum.abs(), _per_image_sum(relevance)
    a_target = safe_divide(a_sum.abs(), total) * r_sum
    b_target = safe_divide(b_sum.abs(), total) * r_sum
    return a * safe_divide(a_target, a_sum), b * safe_divide(b_target, b_sum)
