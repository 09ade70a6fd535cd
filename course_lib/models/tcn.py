"""Temporal convolutional network (Bai, Kolter and Koltun 2018).

"An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence
Modeling": a stack of residual blocks of dilated *causal* 1-D convolutions. Output
step ``t`` sees only input steps ``<= t``, and doubling the dilation at each level
makes the receptive field grow exponentially with depth.

The TCN works on a sequence of feature vectors ``(B, C, T)``, e.g. per-frame image
features or per-frame audio features of one modality, and keeps the length ``T``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm


def receptive_field(kernel_size: int, num_levels: int) -> int:
    """Input steps that one output step sees: ``1 + 2 (k - 1) (2**L - 1)``.

    Each level has two convolutions of dilation ``2**i``, each reaching
    ``(k - 1) * 2**i`` steps further into the past.
    """
    return 1 + 2 * (kernel_size - 1) * (2**num_levels - 1)


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` padded on the left only: ``(B, C_in, T)`` -> ``(B, C_out, T)``.

    Padding ``(kernel_size - 1) * dilation`` zeros before the sequence (and none after)
    keeps the length and lets output ``t`` depend on inputs ``t - (k-1) d, ..., t`` only.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions with ReLU and dropout, plus a residual connection.

    ``(B, C_in, T)`` -> ``(B, C_out, T)``. When ``C_in != C_out`` the residual goes
    through a 1x1 convolution. Weight normalization (Salimans and Kingma 2016) follows
    the paper; ``weight_norm=False`` uses plain convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.1,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv1 = self._conv(in_channels, out_channels, kernel_size, dilation, weight_norm)
        self.conv2 = self._conv(out_channels, out_channels, kernel_size, dilation, weight_norm)
        self.dropout = nn.Dropout(dropout)
        self.residual = (
            nn.Conv1d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else nn.Identity()
        )

    @staticmethod
    def _conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int, weight_norm: bool) -> nn.Module:
        conv = CausalConv1d(in_channels, out_channels, kernel_size, dilation)
        nn.init.normal_(conv.weight, std=0.01)  # the paper's initialization
        return apply_weight_norm(conv) if weight_norm else conv

    def forward(self, x: Tensor) -> Tensor:
        out = self.dropout(F.relu(self.conv1(x)))
        out = self.dropout(F.relu(self.conv2(out)))
        return F.relu(out + self.residual(x))


class TCN(nn.Module):
    """Stack of ``TemporalBlock``s with dilations 1, 2, 4, ...: ``(B, C_in, T)`` -> ``(B, C_out, T)``.

    Args:
        in_channels: features per time step of the input.
        channels: output channels of each level; ``C_out = channels[-1]`` and the number
            of levels is ``len(channels)``.
        kernel_size: taps of every convolution.
        dropout: dropout after each convolution (training only).
        weight_norm: weight-normalize the convolutions, as in the paper.

    Example::

        tcn = TCN(in_channels=64, channels=[64, 64, 64, 64], kernel_size=3)
        tcn.receptive_field  # 61 steps
        summary = tcn(frame_features)[:, :, -1]  # (B, 64): the last step has seen 61 steps
    """

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        kernel_size: int = 3,
        dropout: float = 0.1,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("TCN channels must list at least one level, got []")
        if kernel_size < 2:
            raise ValueError(f"TCN kernel_size must be >= 2, got {kernel_size}")
        self.in_channels = in_channels
        self.out_channels = channels[-1]
        self.kernel_size = kernel_size
        widths = [in_channels, *channels]
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(widths[i], widths[i + 1], kernel_size, 2**i, dropout, weight_norm)
                for i in range(len(channels))
            )
        )

    @property
    def receptive_field(self) -> int:
        """Input steps that each output step depends on."""
        return receptive_field(self.kernel_size, len(self.blocks))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"TCN expects a sequence of shape (B, C_in={self.in_channels}, T), got {tuple(x.shape)}"
            )
        return self.blocks(x)
