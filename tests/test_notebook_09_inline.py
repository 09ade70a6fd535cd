"""Notebook 09 builds a TCN inline; it must agree with ``course_lib.models.tcn``."""
from __future__ import annotations

import pytest
import torch

from course_lib.models import tcn as library

from notebook_cells import inline_fixture

inline = inline_fixture("09_audio_video_fusion.ipynb")


@pytest.mark.parametrize("kernel_size,dilation", [(2, 1), (3, 4)])
def test_inline_causal_conv_equals_the_library(inline, kernel_size, dilation):
    torch.manual_seed(0)
    mine = inline["CausalConv1d"](3, 5, kernel_size, dilation)
    theirs = library.CausalConv1d(3, 5, kernel_size, dilation)
    theirs.load_state_dict(mine.state_dict())
    x = torch.randn(2, 3, 17)
    torch.testing.assert_close(mine(x), theirs(x))
    assert mine(x).shape == (2, 5, 17)


@pytest.mark.parametrize("channels", [[8, 8, 8], [6, 10]])
def test_inline_tcn_equals_the_library_with_the_same_weights(inline, channels):
    torch.manual_seed(0)
    mine = inline["InlineTCN"](4, channels, kernel_size=3).eval()
    theirs = library.TCN(4, channels, kernel_size=3, weight_norm=False).eval()
    theirs.load_state_dict(mine.state_dict())
    x = torch.randn(3, 4, 40)
    torch.testing.assert_close(mine(x), theirs(x))


def test_inline_tcn_is_causal_with_the_library_receptive_field(inline):
    torch.manual_seed(0)
    mine = inline["InlineTCN"](2, [8, 8, 8], kernel_size=3).eval()
    rf = library.receptive_field(3, 3)
    x = torch.randn(16, 2, rf + 8, requires_grad=True)  # many clips: no step is cut off by ReLUs in all of them
    mine(x)[:, :, -1].sum().backward()
    reached = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero().flatten()
    assert reached.tolist() == list(range(8, rf + 8))
