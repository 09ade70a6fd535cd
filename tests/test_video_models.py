import pytest
import torch
from torch import nn
from torchvision.models.video.resnet import Conv2Plus1D, Conv3DSimple

from course_lib.models import count_parameters
from course_lib.models.video import (
    FrameClassifier,
    FrameEncoder,
    R2Plus1dClassifier,
    mid_channels,
    to_channels_first,
)


def clips(batch: int = 3, frames: int = 6, channels: int = 1, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, frames, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_to_channels_first_swaps_time_and_channels():
    video = clips(2, 5, 3, 8)
    moved = to_channels_first(video)
    assert moved.shape == (2, 3, 5, 8, 8)
    assert torch.equal(moved[1, 2, 4], video[1, 4, 2])
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        to_channels_first(torch.zeros(2, 3, 8, 8))


def test_frame_encoder_shape_and_frames_are_independent():
    encoder = FrameEncoder(in_channels=1, out_dim=12, channels=(4, 8)).eval()
    video = clips()
    features = encoder(video)
    assert features.shape == (3, 6, 12)
    # each frame's features depend on that frame only: the same as encoding the frames one by one
    one_by_one = torch.stack([encoder(video[:, t : t + 1])[:, 0] for t in range(6)], dim=1)
    torch.testing.assert_close(features, one_by_one)


def test_frame_encoder_features_say_where_the_object_is():
    torch.manual_seed(0)
    left, right = torch.zeros(1, 1, 1, 16, 16), torch.zeros(1, 1, 1, 16, 16)
    left[..., 4:8, 1:5], right[..., 4:8, 11:15] = 1, 1  # the same square, moved
    encoder = FrameEncoder(out_dim=8, channels=(4, 8), grid=4).eval()
    assert (encoder(left) - encoder(right)).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("video", "match"),
    [
        (torch.zeros(2, 6, 16, 16), r"FrameEncoder: video must have shape \(B, T, 1, H, W\), got \(2, 6, 16, 16\)"),
        (torch.zeros(2, 6, 3, 16, 16), r"\(B, T, 1, H, W\), got \(2, 6, 3, 16, 16\)"),
        (torch.zeros(2, 6, 1, 2, 16), "at least 4x4"),
    ],
)
def test_frame_encoder_bad_shapes(video, match):
    with pytest.raises(ValueError, match=match):
        FrameEncoder(channels=(4, 8))(video)


@pytest.mark.parametrize("temporal", ["mean", "max", "conv"])
def test_frame_classifier_shapes_and_gradients(temporal):
    model = FrameClassifier(num_classes=5, embed_dim=16, channels=(4, 8), temporal=temporal, hidden=8)
    logits = model({"video": clips(), "label": torch.zeros(3)})
    assert logits.shape == (3, 5)
    logits.sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("temporal", "blind"), [("mean", True), ("max", True), ("conv", False)])
def test_only_the_temporal_head_sees_the_order_of_frames(temporal, blind):
    torch.manual_seed(0)
    model = FrameClassifier(num_classes=4, embed_dim=16, channels=(4, 8), temporal=temporal).eval()
    video = clips()
    forwards, backwards = model({"video": video}), model({"video": video.flip(1)})
    if blind:
        torch.testing.assert_close(forwards, backwards)
    else:
        assert not torch.allclose(forwards, backwards, atol=1e-4)


def test_frame_classifier_errors():
    with pytest.raises(ValueError, match="temporal must be one of"):
        FrameClassifier(num_classes=3, temporal="attention")
    model = FrameClassifier(num_classes=3, in_channels=2, channels=(4, 8), modality="flow")
    with pytest.raises(ValueError, match="missing modality 'flow'"):
        model({"video": clips(channels=2)})
    with pytest.raises(ValueError, match=r"FrameEncoder: flow must have shape \(B, T, 2, H, W\)"):
        model({"flow": clips(channels=1)})
    with pytest.raises(TypeError, match="expects a dict"):
        model(clips(channels=2))


def test_mid_channels_formula_and_torchvision():
    assert mid_channels(64, 64) == 144  # the number in Tran et al. (2018) for 64 -> 64
    assert mid_channels(3, 64) == (27 * 3 * 64) // (9 * 3 + 3 * 64)
    with pytest.raises(ValueError, match="positive"):
        mid_channels(0, 8)


@pytest.mark.parametrize(("n_in", "n_out"), [(64, 64), (16, 32), (8, 8), (32, 16)])
def test_2plus1d_factorisation_has_about_the_weights_of_a_full_3d_conv(n_in, n_out):
    full = Conv3DSimple(n_in, n_out)
    factorised = Conv2Plus1D(n_in, n_out, mid_channels(n_in, n_out))
    conv_weights = sum(m.weight.numel() for m in factorised.modules() if isinstance(m, nn.Conv3d))
    assert full.weight.numel() == 27 * n_in * n_out
    # rounding M down can only lose up to one mid channel's worth of weights (9 n_in + 3 n_out)
    assert 0 <= full.weight.numel() - conv_weights < 9 * n_in + 3 * n_out
    if (n_in, n_out) == (64, 64):
        assert conv_weights == full.weight.numel()


@pytest.mark.parametrize("conv", ["2+1d", "3d"])
def test_r2plus1d_shapes_and_gradients(conv):
    model = R2Plus1dClassifier(num_classes=8, widths=(4, 8), conv=conv)
    logits = model({"video": clips(frames=8)})
    assert logits.shape == (3, 8)
    assert model.clip_features(clips(frames=8)).shape == (3, 8)
    logits.sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_r2plus1d_uses_torchvision_blocks_with_the_weights_of_3d():
    factorised = R2Plus1dClassifier(num_classes=8, widths=(8, 16, 32), conv="2+1d")
    full = R2Plus1dClassifier(num_classes=8, widths=(8, 16, 32), conv="3d")
    assert any(isinstance(m, Conv2Plus1D) for m in factorised.modules())
    assert any(isinstance(m, Conv3DSimple) for m in full.modules())
    # the same budget of weights, up to the rounding of M and the extra batch norms
    assert 0.85 < count_parameters(factorised) / count_parameters(full) < 1.05


def test_r2plus1d_downsamples_time_and_space():
    model = R2Plus1dClassifier(num_classes=2, widths=(4, 8, 16)).eval()
    x = model.blocks(model.stem(to_channels_first(clips(batch=1, frames=16, size=32))))
    assert x.shape == (1, 16, 4, 4, 4)  # T 16 -> 4; 32 pixels -> 16 (stem) -> 4


def test_r2plus1d_errors():
    with pytest.raises(ValueError, match="conv must be one of"):
        R2Plus1dClassifier(num_classes=2, conv="2d")
    with pytest.raises(ValueError, match="widths"):
        R2Plus1dClassifier(num_classes=2, widths=())
    model = R2Plus1dClassifier(num_classes=2, widths=(4, 8))
    with pytest.raises(ValueError, match=r"R2Plus1dClassifier: video must have shape \(B, T, 1, H, W\), got \(2, 1, 6, 16, 16\)"):
        model({"video": torch.zeros(2, 1, 6, 16, 16)})  # channels-first by mistake
    with pytest.raises(ValueError, match="at least 4x4"):
        model({"video": torch.zeros(2, 6, 1, 3, 3)})


def test_models_are_deterministic_under_a_seed():
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = R2Plus1dClassifier(num_classes=3, widths=(4, 8)).eval()
        outputs.append(model({"video": clips()}))
    torch.testing.assert_close(outputs[0], outputs[1])


def test_basic_block_reuses_the_first_convolutions_mid_width():
    # torchvision's BasicBlock applies the rule to (inplanes -> planes) once and reuses M for conv2
    block = R2Plus1dClassifier(num_classes=8, widths=(8, 16), conv="2+1d").blocks[1]
    conv1, conv2 = block.conv1[0], block.conv2[0]
    assert conv1[0].out_channels == conv2[0].out_channels == mid_channels(8, 16) == 28
    assert (conv2[0].in_channels, conv2[3].out_channels) == (16, 16) and mid_channels(16, 16) == 36
    weights = sum(m.weight.numel() for m in conv2.modules() if isinstance(m, nn.Conv3d))
    assert weights == 16 * 28 * 9 + 28 * 16 * 3 == 5376 < Conv3DSimple(16, 16).weight.numel() == 6912
