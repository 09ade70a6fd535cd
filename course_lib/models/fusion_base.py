"""The call shape shared by every fusion module.

A fusion module is built from ``dims = {modality: embedding size}`` plus its own
hyperparameters and is called on a dict of embeddings::

    fusion = ConcatFusion({"image": 64, "audio": 64})
    fused = fusion({"image": z_image, "audio": z_audio})   # (B, fusion.out_dim)

so a notebook swaps one method for another by changing one line.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from course_lib.models.checks import check_dims, check_features


class Fusion(nn.Module):
    """Base class: stores ``dims``, ``modalities`` and ``out_dim`` and checks inputs.

    ``check(features)`` verifies that exactly the modalities of ``dims`` are present,
    each of shape (B, D_m), and returns them as a list in the order of ``dims``.
    """

    out_dim: int

    def __init__(self, dims: Mapping[str, int]) -> None:
        super().__init__()
        self.dims = check_dims(dims, type(self).__name__)
        self.modalities = tuple(self.dims)

    def check(self, features: Mapping[str, Tensor]) -> list[Tensor]:
        """{modality: (B, D_m)} -> [(B, D_m) for each modality in ``self.modalities``]."""
        return check_features(features, self.dims, type(self).__name__)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, out_dim={self.out_dim}"
