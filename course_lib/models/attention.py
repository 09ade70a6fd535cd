"""Cross-modal attention: a query from one modality attends over the regions of another.

In visual question answering the question is the query and the image regions are the keys
and values: the question asks "which regions matter to me?", scores every region, turns the
scores into weights with a softmax over the regions, and reads out the weighted mean::

    attend = CrossModalAttention(query_dim=64, region_dim=32, hidden_dim=64)
    attended, weights = attend(question, regions)   # (B, 64), (B, R); weights sum to 1 over R

``mask`` (B, R) marks the regions that exist (padding gets weight 0) and ``bias`` (B, R) is
added to the scores before the softmax, e.g. a penalty that grows with the distance to an
object found earlier (see ``course_lib.models.relational``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.models.checks import can_read_values, check_shape


class CrossModalAttention(nn.Module):
    """Scaled dot-product attention of one query vector over a set of regions.

    Scores: ``score[b, h, r] = <W_q q_b, W_k x_br>_h / sqrt(d)`` per head ``h`` (head size
    ``d = hidden_dim / num_heads``), plus ``bias``; weights: softmax over ``r``; output: the
    weighted sum of ``W_v x_br`` per head, heads concatenated and projected to ``hidden_dim``.

    Args:
        query_dim: size of the query vector (e.g. the question embedding).
        region_dim: size of each region's feature vector (e.g. CNN features plus coordinates).
        hidden_dim: size of the keys, values and output; divisible by ``num_heads``.
        num_heads: independent attention distributions, each over all regions.
    """

    def __init__(self, query_dim: int, region_dim: int, hidden_dim: int = 64, num_heads: int = 1) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("region_dim", region_dim),
                            ("hidden_dim", hidden_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CrossModalAttention: {name} must be a positive int, got {value!r}")
        if hidden_dim % num_heads:
            raise ValueError(f"CrossModalAttention: hidden_dim ({hidden_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.query_dim, self.region_dim, self.out_dim = query_dim, region_dim, hidden_dim
        self.num_heads, self.head_dim = num_heads, hidden_dim // num_heads
        self.to_query = nn.Linear(query_dim, hidden_dim)
        self.to_key = nn.Linear(region_dim, hidden_dim)
        self.to_value = nn.Linear(region_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, hidden_dim) if num_heads > 1 else nn.Identity()

    def scores(self, query: Tensor, regions: Tensor) -> Tensor:
        """Raw attention scores (B, num_heads, R) of ``query`` (B, query_dim) over ``regions`` (B, R, region_dim)."""
        b, r, _ = regions.shape
        q = self.to_query(query).view(b, self.num_heads, 1, self.head_dim)
        k = self.to_key(regions).view(b, r, self.num_heads, self.head_dim).transpose(1, 2)
        return (q * k).sum(-1) / math.sqrt(self.head_dim)

    def forward(self, query: Tensor, regions: Tensor, mask: Tensor | None = None,
                bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Attend over the regions.

        Args:
            query: (B, query_dim).
            regions: (B, R, region_dim).
            mask: optional (B, R) bool, True for a real region; masked regions get weight 0.
                Every row needs at least one real region (checked in eager mode only, see
                :func:`course_lib.models.checks.can_read_values`).
            bias: optional (B, R) or (B, num_heads, R) added to the scores before the softmax.

        Returns:
            ``attended`` (B, hidden_dim) and ``weights`` (B, R): the attention weights averaged
            over the heads, non-negative and summing to 1 over the regions.
        """
        check_shape(query, "CrossModalAttention: query", ("B", self.query_dim))
        check_shape(regions, "CrossModalAttention: regions", ("B", "R", self.region_dim))
        b, r, _ = regions.shape
        if query.shape[0] != b:
            raise ValueError(f"CrossModalAttention: query has batch size {query.shape[0]}, regions has {b}")
        scores = self.scores(query, regions)
        if bias is not None:
            if bias.dim() == 2:
                check_shape(bias, "CrossModalAttention: bias", (b, r))
                bias = bias[:, None, :]
            else:
                check_shape(bias, "CrossModalAttention: bias", (b, self.num_heads, r))
            scores = scores + bias
        if mask is not None:
            check_shape(mask, "CrossModalAttention: mask", (b, r))
            if mask.dtype != torch.bool:
                raise TypeError(f"CrossModalAttention: mask must be a bool tensor, got {mask.dtype}")
            if can_read_values() and not mask.any(dim=1).all():
                raise ValueError("CrossModalAttention: every row of mask needs at least one True region")
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, heads, R)
        values = self.to_value(regions).view(b, r, self.num_heads, self.head_dim).transpose(1, 2)
        attended = (weights.unsqueeze(-1) * values).sum(dim=2).reshape(b, -1)  # (B, hidden_dim)
        return self.out(attended), weights.mean(dim=1)
