"""Fusion methods by name, so that a notebook swaps one for another in one line::

    fusion = make_fusion("tensor", {"image": 32, "audio": 32}, out_dim=64)

Every method takes ``dims = {modality: D_m}`` and is called on ``{modality: (B, D_m)}``,
returning (B, fusion.out_dim). Their own hyperparameters:

==========  ==================  ================================================
name        class               keyword arguments
==========  ==================  ================================================
concat      ConcatFusion        out_dim=None (None: plain concatenation)
late        LateFusion          num_classes, weights=None, learn_weights=False
gated       GatedFusion         out_dim, hidden=64
tensor      TensorFusion        out_dim
low_rank    LowRankFusion       out_dim, rank=4
==========  ==================  ================================================

``late`` already returns class logits: put ``nn.Identity()`` after it, not a classifier.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from course_lib.models.fusion_base import Fusion
from course_lib.models.fusion_basic import ConcatFusion, GatedFusion, LateFusion
from course_lib.models.tensor_fusion import LowRankFusion, TensorFusion

FUSION_METHODS: dict[str, type[Fusion]] = {
    "concat": ConcatFusion,
    "late": LateFusion,
    "gated": GatedFusion,
    "tensor": TensorFusion,
    "low_rank": LowRankFusion,
}


def make_fusion(name: str, dims: Mapping[str, int], **kwargs: Any) -> Fusion:
    """Build the fusion method ``name`` (a key of ``FUSION_METHODS``) for ``dims``."""
    if name not in FUSION_METHODS:
        valid = ", ".join(FUSION_METHODS)
        raise ValueError(f"unknown fusion method {name!r}; valid names: {valid}")
    return FUSION_METHODS[name](dims, **kwargs)
