"""FiLM: identity parameters, per-channel scale and shift, shapes, gradients and errors."""
import pytest
import torch

from course_lib.models.film import FiLM, FiLMBlock, film


def test_identity_parameters_give_the_identity():
    x = torch.randn(3, 5, 4, 4)
    torch.testing.assert_close(film(x, torch.ones(3, 5), torch.zeros(3, 5)), x)
    module = FiLM(cond_dim=7, num_channels=5)  # starts at gamma = 1, beta = 0 for every condition
    torch.testing.assert_close(module(x, torch.randn(3, 7)), x)


def test_scale_and_shift_per_sample_and_channel():
    x = torch.randn(2, 3, 4, 4)
    gamma, beta = torch.randn(2, 3), torch.randn(2, 3)
    y = film(x, gamma, beta)
    assert y.shape == x.shape
    torch.testing.assert_close(y[1, 2], gamma[1, 2] * x[1, 2] + beta[1, 2])
    vectors = torch.randn(2, 3)
    torch.testing.assert_close(film(vectors, gamma, beta), gamma * vectors + beta)


def test_parameters_come_from_the_condition_and_get_gradients():
    torch.manual_seed(0)
    module = FiLM(cond_dim=4, num_channels=3)
    torch.nn.init.normal_(module.to_params.weight)
    cond = torch.randn(2, 4)
    gamma, beta = module.params(cond)
    assert gamma.shape == beta.shape == (2, 3)
    expected = module.to_params(cond)
    torch.testing.assert_close(gamma, expected[:, :3])
    torch.testing.assert_close(beta, expected[:, 3:])
    x = torch.randn(2, 3, 5, 5)
    module(x, cond).square().sum().backward()
    assert module.to_params.weight.grad.abs().sum() > 0


def test_block_keeps_the_shape_and_uses_the_condition():
    torch.manual_seed(0)
    block = FiLMBlock(channels=4, cond_dim=6)
    torch.nn.init.normal_(block.film.to_params.weight)
    x = torch.randn(3, 4, 5, 5)
    a, b = block(x, torch.randn(3, 6)), block(x, torch.randn(3, 6))
    assert a.shape == x.shape and not torch.allclose(a, b)


def test_bad_shapes_are_clear_errors():
    module = FiLM(cond_dim=4, num_channels=3)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, \.\.\.\), got \(2, 5, 4\)"):
        module(torch.randn(2, 5, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"cond must have shape \(B, 4\), got \(2, 6\)"):
        module(torch.randn(2, 3, 4), torch.randn(2, 6))
    with pytest.raises(ValueError, match="batch size"):
        module(torch.randn(2, 3, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"gamma must have shape \(2, 3\)"):
        film(torch.randn(2, 3, 4), torch.ones(2, 4), torch.zeros(2, 3))
