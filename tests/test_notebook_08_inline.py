"""The pieces notebook 08 builds inline agree with the library versions it switches to.

The notebook tags the cells that define ``SimpleFrameEncoder`` and ``SimpleConv2Plus1d`` with the
cell tag ``inline``; this test runs those cells on their own and checks that, with the same
weights, the first matches ``course_lib.models.video.FrameEncoder`` and the second torchvision's
``Conv2Plus1D`` (the block of ``R2Plus1dClassifier``), in training and in evaluation mode.
"""
from __future__ import annotations

import pytest
import torch
from torchvision.models.video.resnet import Conv2Plus1D

from course_lib.models.video import FrameEncoder, mid_channels

from notebook_cells import inline_fixture

inline = inline_fixture("08_video_features.ipynb")


def randomize_norms(module: torch.nn.Module, seed: int) -> None:
    """Give every batch norm non-trivial affine weights and running statistics."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            for tensor in (norm.weight, norm.bias, norm.running_mean):
                tensor.data.copy_(torch.randn(tensor.shape, generator=generator))
            norm.running_var.data.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_inline_frame_encoder_matches_library(inline, mode):
    torch.manual_seed(0)
    mine = inline["SimpleFrameEncoder"](in_channels=2, out_dim=12, channels=(4, 8), grid=2)
    torch.manual_seed(1)
    library = FrameEncoder(in_channels=2, out_dim=12, channels=(4, 8), grid=2)
    randomize_norms(mine, 2)
    video = torch.randn(3, 5, 2, 16, 16, generator=torch.Generator().manual_seed(3))
    getattr(mine, mode)(), getattr(library, mode)()
    assert not torch.allclose(mine(video), library(video)), "different weights should give different outputs"
    library.load_state_dict(mine.state_dict())
    torch.testing.assert_close(mine(video), library(video))
    assert mine(video).shape == (3, 5, 12)


def to_torchvision(block: torch.nn.Module) -> Conv2Plus1D:
    """torchvision's Conv2Plus1D holding the inline block's weights (Conv2d/Conv1d -> Conv3d)."""
    twin = Conv2Plus1D(block.spatial.in_channels, block.temporal.out_channels, block.spatial.out_channels)
    twin[0].weight.data.copy_(block.spatial.weight.unsqueeze(2))
    twin[1].load_state_dict(block.norm.state_dict())
    twin[3].weight.data.copy_(block.temporal.weight[..., None, None])
    return twin


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(("n_in", "n_out", "frames", "height", "width"), [(3, 5, 6, 8, 8), (4, 4, 1, 5, 7)])
def test_inline_conv2plus1d_matches_torchvision(inline, mode, n_in, n_out, frames, height, width):
    torch.manual_seed(0)
    block = inline["SimpleConv2Plus1d"](n_in, n_out, mid_channels(n_in, n_out))
    randomize_norms(block, 1)
    twin = to_torchvision(block)
    getattr(block, mode)(), getattr(twin, mode)()
    x = torch.randn(2, n_in, frames, height, width, generator=torch.Generator().manual_seed(2))
    out = block(x)
    assert out.shape == (2, n_out, frames, height, width)
    torch.testing.assert_close(out, twin(x))
    if mode == "train":  # both updated their running statistics the same way
        torch.testing.assert_close(block.norm.running_mean, twin[1].running_mean)


def test_inline_conv2plus1d_gradients_match(inline):
    torch.manual_seed(0)
    block = inline["SimpleConv2Plus1d"](3, 4, 6)
    twin = to_torchvision(block)
    x = torch.randn(2, 3, 5, 6, 6)
    block(x).square().sum().backward()
    twin(x).square().sum().backward()
    torch.testing.assert_close(block.spatial.weight.grad.unsqueeze(2), twin[0].weight.grad)
    torch.testing.assert_close(block.temporal.weight.grad[..., None, None], twin[3].weight.grad)
