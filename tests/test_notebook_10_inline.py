"""Notebook 10's inline expected calibration error agrees with course_lib.calibration.

The cells tagged ``inline`` run on their own (no data, no earlier cells).
"""
from __future__ import annotations

import pytest
import torch

from course_lib.calibration import expected_calibration_error

from notebook_cells import inline_fixture

inline = inline_fixture("10_robustness_evaluation_deployment.ipynb")


@pytest.mark.parametrize(("scale", "n_bins", "seed"), [(1.0, 15, 0), (4.0, 15, 1), (0.3, 10, 2), (2.0, 1, 3)])
def test_inline_ece_matches_library(inline, scale, n_bins, seed):
    generator = torch.Generator().manual_seed(seed)
    probs = (scale * torch.randn(500, 10, generator=generator)).softmax(dim=1)
    labels = torch.randint(0, 10, (500,), generator=generator)
    mine = inline["simple_ece"](probs, labels, n_bins=n_bins)
    assert mine == pytest.approx(expected_calibration_error(probs, labels, n_bins=n_bins), abs=1e-12)


def test_inline_ece_of_a_hand_example(inline):
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 1])
    # bins of width 0.5: all three in (0.5, 1]; mean confidence 0.7667, accuracy 2/3
    assert inline["simple_ece"](probs, labels, n_bins=2) == pytest.approx(abs(2 / 3 - 2.3 / 3))
