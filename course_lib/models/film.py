"""FiLM: feature-wise linear modulation of image features by a question (Perez et al. 2018).

Each channel ``c`` of a feature map is scaled and shifted by numbers predicted from the
conditioning vector (the question): ``FiLM(x)[:, c] = gamma_c(q) * x[:, c] + beta_c(q)``.
With ``gamma = 1`` and ``beta = 0`` it is the identity; a question can switch channels off
(``gamma = 0``), flip them, or raise them above the ReLU that follows::

    film = FiLM(cond_dim=64, num_channels=24)
    y = film(feature_maps, question)   # (B, 24, H, W) -> (B, 24, H, W)
"""
from __future__ import annotations

from torch import Tensor, nn

from course_lib.models.checks import check_shape


def film(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """``gamma * x + beta`` per channel: x (B, C, ...) with gamma, beta (B, C)."""
    if x.dim() < 2:
        raise ValueError(f"film: x must have shape (B, C, ...), got {tuple(x.shape)}")
    check_shape(gamma, "film: gamma", tuple(x.shape[:2]))
    check_shape(beta, "film: beta", tuple(x.shape[:2]))
    extra = (1,) * (x.dim() - 2)
    return gamma.view(*gamma.shape, *extra) * x + beta.view(*beta.shape, *extra)


class FiLM(nn.Module):
    """Predict ``gamma`` and ``beta`` (B, C) from ``cond`` (B, cond_dim) with one linear layer; apply them.

    The layer starts at the identity (``gamma = 1``, ``beta = 0`` for every input), so
    adding FiLM to a network does not disturb it before training.
    """

    def __init__(self, cond_dim: int, num_channels: int) -> None:
        super().__init__()
        self.cond_dim, self.num_channels = cond_dim, num_channels
        self.to_params = nn.Linear(cond_dim, 2 * num_channels)
        nn.init.zeros_(self.to_params.weight)
        nn.init.zeros_(self.to_params.bias)
        self.to_params.bias.data[:num_channels] = 1.0

    def params(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """``gamma``, ``beta``: each (B, num_channels)."""
        check_shape(cond, "FiLM: cond", ("B", self.cond_dim))
        gamma, beta = self.to_params(cond).chunk(2, dim=-1)
        return gamma, beta

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x (B, num_channels, ...) and cond (B, cond_dim) -> modulated x, same shape."""
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"FiLM: x must have shape (B, {self.num_channels}, ...), got {tuple(x.shape)}")
        if cond.shape[:1] != x.shape[:1]:
            raise ValueError(f"FiLM: cond has batch size {tuple(cond.shape[:1])}, x has {x.shape[0]}")
        gamma, beta = self.params(cond)
        return film(x, gamma, beta)


class FiLMBlock(nn.Module):
    """Residual block: 3x3 conv, normalization (no affine: FiLM scales and shifts), FiLM from the
    question, ReLU, plus the input.

    (B, C, H, W) and cond (B, cond_dim) -> (B, C, H, W). ``norm="batch"`` (batch norm) or
    ``"group"`` (group norm, one group per channel: each example normalized on its own).
    """

    def __init__(self, channels: int, cond_dim: int, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "group"):
            raise ValueError(f"FiLMBlock: norm must be 'batch' or 'group', got {norm!r}")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(channels, channels, affine=False) if norm == "group" else nn.BatchNorm2d(channels, affine=False)
        self.film = FiLM(cond_dim, channels)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return x + self.film(self.norm(self.conv(x)), cond).relu()
