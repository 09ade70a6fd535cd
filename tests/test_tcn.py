import pytest
import torch

from course_lib.models.tcn import TCN, CausalConv1d, TemporalBlock, receptive_field


def make_tcn(**kwargs) -> TCN:
    torch.manual_seed(0)
    return TCN(**{"in_channels": 5, "channels": [8, 8, 6], "kernel_size": 3, "dropout": 0.1, **kwargs})


@pytest.mark.parametrize("weight_norm", [True, False])
def test_output_shape(weight_norm):
    tcn = make_tcn(weight_norm=weight_norm)
    assert tcn(torch.randn(4, 5, 20)).shape == (4, 6, 20)
    assert tcn(torch.randn(1, 5, 1)).shape == (1, 6, 1)


def test_causal_conv_pads_on_the_left_only():
    conv = CausalConv1d(1, 1, kernel_size=3, dilation=2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 10.0, 100.0]]]))
        conv.bias.zero_()
    x = torch.arange(1.0, 7.0).reshape(1, 1, 6)
    # y[t] = x[t - 4] + 10 x[t - 2] + 100 x[t], with zeros before the start.
    expected = torch.tensor([[[100.0, 200.0, 310.0, 420.0, 531.0, 642.0]]])
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize("t", [0, 7, 19])
def test_outputs_before_t_ignore_the_input_at_t(t):
    tcn = make_tcn().eval()
    x = torch.randn(2, 5, 20)
    y = tcn(x)
    x2 = x.clone()
    x2[:, :, t] += 5.0
    y2 = tcn(x2)
    torch.testing.assert_close(y2[:, :, :t], y[:, :, :t], atol=0, rtol=0)
    assert not torch.allclose(y2[:, :, t], y[:, :, t])


@pytest.mark.parametrize("kernel_size,channels", [(2, [4, 4]), (3, [6, 6, 6]), (5, [4, 4, 4]), (3, [8] * 4),
                                                  (3, [8] * 5), (2, [8] * 6), (3, [64] * 4)])
def test_receptive_field_equals_the_measured_one(kernel_size, channels):
    # the gradient of the last output is non-zero exactly on the last receptive_field inputs; summed over a
    # batch, since a ReLU unit that is off for one input passes no gradient for it
    tcn = make_tcn(channels=channels, kernel_size=kernel_size, in_channels=3).eval()
    rf = receptive_field(kernel_size, len(channels))
    assert tcn.receptive_field == rf == 1 + 2 * (kernel_size - 1) * (2 ** len(channels) - 1)
    length = rf + 10
    x = torch.randn(8, 3, length, requires_grad=True)
    tcn(x)[:, :, -1].sum().backward()
    reached = x.grad.abs().sum(dim=(0, 1)) > 0  # (length,)
    expected = torch.zeros(length, dtype=torch.bool)
    expected[-rf:] = True
    assert torch.equal(reached, expected)


def test_receptive_field_formula():
    assert receptive_field(2, 1) == 3
    assert receptive_field(3, 4) == 61
    assert TCN(4, [16] * 8, kernel_size=7).receptive_field == 1 + 2 * 6 * 255


def test_gradients_reach_every_parameter():
    tcn = make_tcn().train()
    tcn(torch.randn(3, 5, 16)).pow(2).mean().backward()
    for name, p in tcn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_weight_norm_is_applied_and_residual_projects_channels():
    block = TemporalBlock(4, 8, kernel_size=3, dilation=2)
    assert hasattr(block.conv1, "parametrizations") and hasattr(block.conv2.parametrizations, "weight")
    assert isinstance(block.residual, torch.nn.Conv1d) and block.residual.kernel_size == (1,)
    assert isinstance(TemporalBlock(8, 8, 3, 1).residual, torch.nn.Identity)
    plain = TemporalBlock(4, 8, 3, 1, weight_norm=False)
    assert not hasattr(plain.conv1, "parametrizations")


def test_eval_mode_is_deterministic_and_dropout_acts_in_training():
    tcn = make_tcn(dropout=0.5)
    x = torch.randn(2, 5, 12)
    tcn.eval()
    torch.testing.assert_close(tcn(x), tcn(x))
    tcn.train()
    assert not torch.allclose(tcn(x), tcn(x))


def test_bad_input_raises_a_clear_error():
    tcn = make_tcn()
    with pytest.raises(ValueError, match=r"\(B, C_in=5, T\), got \(5, 20\)"):
        tcn(torch.randn(5, 20))
    with pytest.raises(ValueError, match=r"C_in=5.*got \(2, 4, 20\)"):
        tcn(torch.randn(2, 4, 20))
    with pytest.raises(ValueError, match="at least one level"):
        TCN(5, [])
    with pytest.raises(ValueError, match="kernel_size"):
        TCN(5, [8], kernel_size=1)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tcn_on_the_gpu_matches_the_cpu():
    tcn = make_tcn().eval()
    x = torch.randn(2, 5, 20)
    expected = tcn(x)
    torch.testing.assert_close(tcn.cuda()(x.cuda()).cpu(), expected, atol=1e-3, rtol=1e-3)  # cuDNN may use TF32
