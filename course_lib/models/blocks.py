"""Small building blocks shared by several models: a convolution block and a multilayer perceptron."""
from __future__ import annotations

from torch import nn


def conv_block(in_channels: int, out_channels: int, pool: bool = True) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU, 2x2 max pooling: (B, C_in, H, W) -> (B, C_out, H/2, W/2).

    The convolution has no bias: the batch norm that follows would cancel it. With
    ``pool=False`` the block keeps H and W.
    """
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
              nn.BatchNorm2d(out_channels), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """(B, in_dim) -> (B, out_dim) through two hidden layers of ``hidden_dim`` units with ReLU."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
                         nn.Linear(hidden_dim, out_dim))
