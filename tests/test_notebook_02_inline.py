"""Notebook 02's hand-written min-max normalization agrees with ``MinMaxScaler`` and scikit-learn.

The cell tagged ``inline`` defines ``fit_min_max`` (per-feature minimum and maximum of the
training features) and ``min_max_scale`` (map that range onto [0, 1]); this test executes it on
its own and compares.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler as SklearnMinMaxScaler

from course_lib.data.transforms import MinMaxScaler

from notebook_cells import inline_fixture

inline = inline_fixture("02_preprocessing_and_augmentation.ipynb")


@pytest.fixture
def features() -> tuple[torch.Tensor, torch.Tensor]:
    """Training (40, 2) and test (10, 2) features on very different scales, like ink and loudness."""
    generator = torch.Generator().manual_seed(0)
    scale, shift = torch.tensor([0.05, 4.0]), torch.tensor([0.2, -20.0])
    train = torch.randn(40, 2, generator=generator) * scale + shift
    test = torch.randn(10, 2, generator=generator) * scale + shift
    return train, test


def test_inline_min_max_matches_library_and_sklearn(inline, features):
    train, test = features
    low, high = inline["fit_min_max"](train)
    mine = inline["min_max_scale"](test, low, high)
    assert torch.allclose(mine, MinMaxScaler().fit(train).transform(test), atol=1e-6)
    reference = SklearnMinMaxScaler().fit(train.numpy()).transform(test.numpy())
    np.testing.assert_allclose(mine.numpy(), reference, atol=1e-5)


def test_inline_min_max_maps_the_training_range_onto_0_1(inline, features):
    train, _ = features
    scaled = inline["min_max_scale"](train, *inline["fit_min_max"](train))
    assert torch.allclose(scaled.amin(dim=0), torch.zeros(2)) and torch.allclose(scaled.amax(dim=0), torch.ones(2))
