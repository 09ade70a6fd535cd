"""Concatenation, late and gated fusion of per-modality embeddings.

All three take ``features = {modality: (B, D_m)}`` and return (B, out_dim). In the course's
vocabulary concatenation and gating are **intermediate** fusion (they join learned embeddings);
``LateFusion`` is **late** fusion trained jointly (per-modality classifiers whose logits are
averaged inside one model). Early fusion of the inputs is ``early_fusion.EarlyFusionModel``; late
fusion of separately trained models is ``decision_fusion.DecisionFusion``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from course_lib.models.checks import normalised_weights
from course_lib.models.fusion_base import Fusion


class ConcatFusion(Fusion):
    """Intermediate fusion: concatenate the embeddings, optionally project them.

    Without ``out_dim`` the output is the concatenation, (B, sum_m D_m). With
    ``out_dim`` a Linear + ReLU layer maps it to a joint representation (B, out_dim).
    """

    def __init__(self, dims: Mapping[str, int], out_dim: int | None = None) -> None:
        super().__init__(dims)
        concat_dim = sum(self.dims.values())
        if out_dim is None:
            self.out_dim = concat_dim
            self.proj: nn.Module = nn.Identity()
        else:
            self.out_dim = out_dim
            self.proj = nn.Sequential(nn.Linear(concat_dim, out_dim), nn.ReLU())

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, D_m)} -> (B, out_dim)."""
        return self.proj(torch.cat(self.check(features), dim=1))


class LateFusion(Fusion):
    """Late fusion, trained jointly: one linear classifier per modality, logits combined by a weighted mean.

    The output already holds class logits, so ``out_dim == num_classes`` and the
    head after it is ``nn.Identity()``. ``weights`` (e.g. ``{"image": 2, "audio": 1}``)
    are normalised to sum to one; the default is the plain mean. With
    ``learn_weights=True`` the weights start there and are trained (kept positive
    and summing to one by a softmax).
    """

    def __init__(
        self,
        dims: Mapping[str, int],
        num_classes: int,
        weights: Mapping[str, float] | None = None,
        learn_weights: bool = False,
    ) -> None:
        super().__init__(dims)
        self.out_dim = num_classes
        self.classifiers = nn.ModuleDict(
            {m: nn.Linear(d, num_classes) for m, d in self.dims.items()}
        )
        normalised = normalised_weights(weights, self.modalities, "LateFusion", positive=True)
        log_weights = torch.tensor([math.log(w) for w in normalised])
        if learn_weights:
            self.log_weights = nn.Parameter(log_weights)
        else:
            self.register_buffer("log_weights", log_weights)

    def modality_weights(self) -> dict[str, float]:
        """The current weight of each modality's logits (they sum to one)."""
        weights = torch.softmax(self.log_weights.detach(), dim=0)
        return {m: float(w) for m, w in zip(self.modalities, weights)}

    def modality_logits(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{modality: (B, D_m)} -> {modality: (B, num_classes)}, each classifier on its own."""
        zs = self.check(features)
        return {m: self.classifiers[m](z) for m, z in zip(self.modalities, zs)}

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, D_m)} -> weighted mean of the per-modality logits (B, num_classes)."""
        logits = torch.stack(list(self.modality_logits(features).values()), dim=1)  # (B, M, C)
        weights = torch.softmax(self.log_weights, dim=0)  # (M,)
        return (weights[None, :, None] * logits).sum(dim=1)


class GatedFusion(Fusion):
    """Intermediate fusion with a gate that decides, per sample, how much each modality counts.

    Each modality is projected to ``out_dim``; a small gate network reads all the
    embeddings and outputs softmax weights over the M modalities; the output is the
    weighted sum of the projections (B, out_dim). ``fusion(features, return_weights=True)``
    also returns the gate's weights (B, M), columns in the order of ``modalities``, for
    plots. One softmax weight per modality: the gated multimodal unit of Arevalo et al.
    (2017) instead gates every dimension with a sigmoid over tanh projections.
    """

    def __init__(self, dims: Mapping[str, int], out_dim: int, hidden: int = 64) -> None:
        super().__init__(dims)
        self.out_dim = out_dim
        self.projections = nn.ModuleDict({m: nn.Linear(d, out_dim) for m, d in self.dims.items()})
        self.gate = nn.Sequential(
            nn.Linear(sum(self.dims.values()), hidden),
            nn.ReLU(),
            nn.Linear(hidden, len(self.modalities)),
        )

    def forward(self, features: Mapping[str, Tensor],
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """{modality: (B, D_m)} -> (B, out_dim), and the gate's weights (B, M) with ``return_weights``."""
        zs = self.check(features)
        weights = torch.softmax(self.gate(torch.cat(zs, dim=1)), dim=1)  # (B, M)
        projected = torch.stack(
            [self.projections[m](z) for m, z in zip(self.modalities, zs)], dim=1
        )  # (B, M, out_dim)
        fused = (weights.unsqueeze(-1) * projected).sum(dim=1)
        return (fused, weights) if return_weights else fused
