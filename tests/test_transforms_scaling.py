"""``course_lib.data.transforms.MinMaxScaler`` gives the numbers of ``sklearn.preprocessing.MinMaxScaler``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler as SklearnMinMaxScaler

from course_lib.data.transforms import MinMaxScaler


@pytest.fixture
def features() -> tuple[torch.Tensor, torch.Tensor]:
    """Training (50, 3) and test (20, 3) features on very different scales, column 2 constant in training."""
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(50, 3, generator=generator, dtype=torch.float64) * torch.tensor([1.0, 100.0, 0.0]) + 5
    test = torch.randn(20, 3, generator=generator, dtype=torch.float64) * torch.tensor([2.0, 100.0, 1.0]) + 5
    return train, test


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_matches_sklearn(features, feature_range):
    train, test = features
    ours = MinMaxScaler(feature_range).fit(train)
    theirs = SklearnMinMaxScaler(feature_range=feature_range).fit(train.numpy())
    np.testing.assert_allclose(ours.transform(train).numpy(), theirs.transform(train.numpy()), atol=1e-12)
    np.testing.assert_allclose(ours.transform(test).numpy(), theirs.transform(test.numpy()), atol=1e-12)
    np.testing.assert_allclose(ours.data_min.numpy(), theirs.data_min_)
    np.testing.assert_allclose(ours.data_max.numpy(), theirs.data_max_)


def test_training_data_spans_the_range_and_inverse_undoes(features):
    train, test = features
    scaler = MinMaxScaler().fit(train)
    scaled = scaler.transform(train)
    assert torch.allclose(scaled[:, :2].amin(dim=0), torch.zeros(2, dtype=train.dtype))
    assert torch.allclose(scaled[:, :2].amax(dim=0), torch.ones(2, dtype=train.dtype))
    assert torch.allclose(scaler.inverse_transform(scaler.transform(test)), test)


def test_one_feature_as_a_vector():
    values = torch.tensor([2.0, 4.0, 6.0])
    assert torch.allclose(MinMaxScaler().fit(values).transform(torch.tensor([4.0, 8.0])), torch.tensor([0.5, 1.5]))


def test_clear_errors():
    with pytest.raises(RuntimeError, match="fit"):
        MinMaxScaler().transform(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="fitted on"):
        MinMaxScaler().fit(torch.zeros(4, 3)).transform(torch.zeros(2, 2))
    with pytest.raises(TypeError, match="float"):
        MinMaxScaler().fit(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1.0, 1.0))
    with pytest.raises(ValueError, match="N > 0"):
        MinMaxScaler().fit(torch.zeros(0, 3))
