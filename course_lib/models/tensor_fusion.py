"""Tensor fusion (TFN, Zadeh et al. 2017) and its low-rank form (LMF, Liu et al. 2018).

Both append a constant 1 to each embedding, z'_m = [z_m; 1] of size D_m + 1, so that
the fused representation keeps every unimodal term and every cross-modal product.

- TFN forms the outer product z'_1 x z'_2 x ... x z'_M (prod_m (D_m + 1) numbers per
  sample) and applies one linear layer: prod_m (D_m + 1) * out_dim + out_dim parameters.
- LMF never forms that product. It gives the TFN weight a rank-r CP decomposition,
  W[o, i_1, ..., i_M] = sum_r lambda_r prod_m W_m[r, i_m, o], and computes
  h = sum_r lambda_r prod_m (z'_m W_m[r]) + b: r * sum_m (D_m + 1) * out_dim + r + out_dim
  parameters, linear in the number of modalities instead of exponential.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from course_lib.models.fusion_base import Fusion


def append_one(z: Tensor) -> Tensor:
    """(B, D) -> (B, D + 1): the embedding with a constant 1 appended."""
    return torch.cat([z, z.new_ones(z.shape[0], 1)], dim=1)


def outer_product(zs: Sequence[Tensor]) -> Tensor:
    """[(B, D_m)] -> (B, prod_m (D_m + 1)): flattened outer product of the [z_m; 1].

    The index of the first modality varies slowest, as in ``torch.einsum("bi,bj->bij")``.
    """
    fused = append_one(zs[0])
    for z in zs[1:]:
        fused = (fused.unsqueeze(2) * append_one(z).unsqueeze(1)).flatten(1)
    return fused


class TensorFusion(Fusion):
    """TFN: flattened outer product of the [z_m; 1], then a linear layer -> (B, out_dim).

    The input of the linear layer has prod_m (D_m + 1) features, so keep the
    embeddings small (e.g. 32 + 32 -> 33 * 33 = 1089 features).
    """

    def __init__(self, dims: Mapping[str, int], out_dim: int) -> None:
        super().__init__(dims)
        self.out_dim = out_dim
        self.fused_dim = math.prod(d + 1 for d in self.dims.values())
        self.linear = nn.Linear(self.fused_dim, out_dim)

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, D_m)} -> (B, out_dim)."""
        return self.linear(outer_product(self.check(features)))


class LowRankFusion(Fusion):
    """LMF: a TFN whose weight tensor has CP rank ``rank``, computed without the outer product.

    Parameters: ``factors[m]`` (rank, D_m + 1, out_dim) per modality, ``rank_weights``
    (rank,) and ``bias`` (out_dim,). Each factor starts with standard deviation
    1 / sqrt(D_m + 1), so z'_m W_m[r] has about the scale of z_m.
    """

    def __init__(self, dims: Mapping[str, int], out_dim: int, rank: int = 4) -> None:
        super().__init__(dims)
        if rank < 1:
            raise ValueError(f"LowRankFusion: rank must be a positive int, got {rank!r}")
        self.out_dim = out_dim
        self.rank = rank
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(torch.randn(rank, d + 1, out_dim) / math.sqrt(d + 1))
                for m, d in self.dims.items()
            }
        )
        self.rank_weights = nn.Parameter(torch.randn(rank) / math.sqrt(rank))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, D_m)} -> (B, out_dim)."""
        product = None
        for m, z in zip(self.modalities, self.check(features)):
            projected = torch.einsum("bi,rio->bro", append_one(z), self.factors[m])  # (B, r, out)
            product = projected if product is None else product * projected
        return torch.einsum("r,bro->bo", self.rank_weights, product) + self.bias

    def to_tensor_fusion(self) -> TensorFusion:
        """The TensorFusion with the reconstructed full weight: same outputs, more parameters."""
        full = None  # (rank, product of the (D_m + 1) so far, out_dim)
        for m in self.modalities:
            factor = self.factors[m]  # (rank, D_m + 1, out_dim)
            if full is None:
                full = factor
            else:
                full = (full.unsqueeze(2) * factor.unsqueeze(1)).flatten(1, 2)
        tfn = TensorFusion(self.dims, self.out_dim).to(self.bias.device, self.bias.dtype)
        with torch.no_grad():
            tfn.linear.weight.copy_(torch.einsum("r,rfo->of", self.rank_weights, full))
            tfn.linear.bias.copy_(self.bias)
        return tfn

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}"
