"""Tests of course_lib.data.transforms against torch, torchaudio and torchvision."""
from __future__ import annotations

import pytest
import torch
import torchaudio
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_lib.data.transforms import (
    ConsistentVideoTransform,
    RandomGain,
    RandomNoise,
    channel_mean_std,
    snr_db,
)


class TensorDataset(Dataset):
    """Items ``{key: tensors[i], "label": i}``."""

    def __init__(self, tensors: Tensor, key: str = "image") -> None:
        self.tensors, self.key = tensors, key

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, index: int) -> dict:
        return {self.key: self.tensors[index], "label": torch.tensor(index)}


def speech_like(shape: tuple[int, ...], seed: int = 0) -> Tensor:
    """Float waveforms: a few decaying tones, different in every row."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(shape[-1]) / 16000
    freqs = 100 + 900 * torch.rand(*shape[:-1], 3, 1, generator=generator)
    tones = torch.sin(2 * torch.pi * freqs * t).sum(dim=-2) * torch.exp(-3 * t)
    return 0.2 * tones


# ----------------------------------------------------------------- channel_mean_std


@pytest.mark.parametrize("shape", [(37, 3, 8, 9), (23, 5, 1, 6, 7)], ids=["images", "videos"])
@pytest.mark.parametrize("batch_size", [1, 10, 256])
def test_channel_mean_std_matches_torch(shape: tuple[int, ...], batch_size: int) -> None:
    torch.manual_seed(0)
    data = torch.rand(shape) * torch.linspace(0.5, 2.0, shape[-3])[:, None, None] + 3.0
    mean, std = channel_mean_std(TensorDataset(data), batch_size=batch_size)
    dims = tuple(d for d in range(data.dim()) if d != data.dim() - 3)
    assert mean.shape == std.shape == (shape[-3],)
    assert mean.dtype == std.dtype == torch.float32
    torch.testing.assert_close(mean, data.mean(dim=dims), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(std, data.std(dim=dims, correction=0), rtol=1e-5, atol=1e-6)


def test_channel_mean_std_standardizes_the_training_split() -> None:
    torch.manual_seed(1)
    train = torch.rand(50, 3, 6, 6) * 0.3 + torch.tensor([0.2, 0.5, 0.7])[:, None, None]
    mean, std = channel_mean_std(TensorDataset(train))
    standardized = v2.Normalize(mean.tolist(), std.tolist())(train)
    torch.testing.assert_close(standardized.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardized.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)


def test_channel_mean_std_reads_the_named_key() -> None:
    clips = torch.rand(4, 2, 1, 5, 5)
    mean, _ = channel_mean_std(TensorDataset(clips, key="video"), key="video")
    torch.testing.assert_close(mean, clips.mean().reshape(1))


def test_channel_mean_std_errors_name_the_problem() -> None:
    with pytest.raises(KeyError, match="no key 'video'.*'image', 'label'"):
        channel_mean_std(TensorDataset(torch.rand(3, 1, 4, 4)), key="video")
    with pytest.raises(ValueError, match=r"'image'.*\(C, H, W\) or \(T, C, H, W\), got \(4, 4\)"):
        channel_mean_std(TensorDataset(torch.rand(3, 4, 4)))
    with pytest.raises(ValueError, match="empty"):
        channel_mean_std(TensorDataset(torch.rand(0, 1, 4, 4)))


# ----------------------------------------------------------------- RandomGain


def test_random_gain_equals_torchaudio_gain_with_the_drawn_gain() -> None:
    waveform = speech_like((16000,))
    torch.manual_seed(3)
    out = RandomGain(-12.0, 6.0)(waveform)
    torch.manual_seed(3)
    gain_db = -12.0 + 18.0 * torch.rand(())
    torch.testing.assert_close(out, torchaudio.functional.gain(waveform, float(gain_db)))


def test_random_gain_stays_in_range_and_differs_per_waveform() -> None:
    waveform = speech_like((2, 64, 4000))
    torch.manual_seed(0)
    out = RandomGain(-6.0, 3.0)(waveform)
    ratio_db = 20 * torch.log10(out.abs().amax(dim=-1) / waveform.abs().amax(dim=-1))
    assert ratio_db.shape == (2, 64)
    assert ratio_db.min() >= -6.0 - 1e-4 and ratio_db.max() <= 3.0 + 1e-4
    assert ratio_db.std() > 1.0, "every waveform should get its own gain"
    fixed = RandomGain(-4.5, -4.5)(waveform)
    torch.testing.assert_close(fixed, waveform * 10 ** (-4.5 / 20))


def test_random_gain_is_deterministic_under_a_seed() -> None:
    waveform = speech_like((3, 1000))
    torch.manual_seed(7)
    first = RandomGain()(waveform)
    torch.manual_seed(7)
    assert torch.equal(first, RandomGain()(waveform))


def test_random_gain_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"low <= high, got \(6.0, -6.0\)"):
        RandomGain(6.0, -6.0)
    with pytest.raises(TypeError, match="RandomGain: audio must be a float tensor.*int16"):
        RandomGain()(torch.zeros(100, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"RandomGain: audio must have shape \(..., n\).*got \(3, 0\)"):
        RandomGain()(torch.zeros(3, 0))


# ----------------------------------------------------------------- RandomNoise and snr_db


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 30.0])
def test_random_noise_gives_the_requested_snr(snr: float) -> None:
    clean = speech_like((8, 16000))
    torch.manual_seed(0)
    noisy = RandomNoise(snr)(clean)
    measured = snr_db(clean, noisy)
    assert measured.shape == (8,)
    assert (measured - snr).abs().max() < 0.1


def test_random_noise_draws_one_snr_per_waveform_in_range() -> None:
    clean = speech_like((200, 2000))
    torch.manual_seed(1)
    measured = snr_db(clean, RandomNoise((0.0, 20.0))(clean))
    assert measured.min() > -0.1 and measured.max() < 20.1
    assert measured.std() > 3.0, "SNRs should spread over the range"


def test_random_noise_matches_torchaudio_add_noise() -> None:
    clean = speech_like((2, 3, 500))
    torch.manual_seed(5)
    out = RandomNoise((5.0, 15.0))(clean)
    torch.manual_seed(5)
    snr = 5.0 + 10.0 * torch.rand(2, 3)
    expected = torchaudio.functional.add_noise(clean, torch.randn_like(clean), snr)
    torch.testing.assert_close(out, expected)


def test_random_noise_noise_is_white_and_zero_mean() -> None:
    clean = speech_like((1, 64000))
    torch.manual_seed(2)
    noise = RandomNoise(0.0)(clean) - clean
    assert noise.mean().abs() < 0.01 * noise.std()
    spectrum = torch.fft.rfft(noise[0]).abs().pow(2)
    low, high = spectrum[1:16000].mean(), spectrum[16000:].mean()
    assert 0.9 < low / high < 1.1


def test_random_noise_keeps_silence_silent() -> None:
    torch.manual_seed(0)
    assert torch.equal(RandomNoise(10.0)(torch.zeros(2, 100)), torch.zeros(2, 100))


def test_random_noise_and_snr_db_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"snr_db must be a number or a \(low, high\) range"):
        RandomNoise((20.0, 10.0))
    with pytest.raises(ValueError, match=r"snr_db .* got \(1.0, 2.0, 3.0\)"):
        RandomNoise((1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="RandomNoise: audio must be a torch.Tensor"):
        RandomNoise()([0.0, 0.1])
    with pytest.raises(ValueError, match=r"same shape.*got \(2, 100\) and \(100,\)"):
        snr_db(torch.zeros(2, 100), torch.zeros(100))


# ----------------------------------------------------------------- ConsistentVideoTransform


def find_crop(frame: Tensor, crop: Tensor) -> tuple[int, int]:
    """The unique (top, left) offset at which ``crop`` (C, h, w) lies inside ``frame`` (C, H, W)."""
    h, w = crop.shape[-2:]
    hits = [
        (top, left)
        for top in range(frame.shape[-2] - h + 1)
        for left in range(frame.shape[-1] - w + 1)
        if torch.equal(frame[:, top : top + h, left : left + w], crop)
    ]
    assert len(hits) == 1, f"crop found at {hits}"
    return hits[0]


def test_consistent_video_transform_crops_every_frame_at_the_same_place() -> None:
    torch.manual_seed(0)
    video = torch.rand(8, 3, 24, 24)  # every frame different
    crop = ConsistentVideoTransform(v2.RandomCrop(16))
    for _ in range(5):
        out = crop(video)
        assert out.shape == (8, 3, 16, 16)
        top, left = find_crop(video[0], out[0])
        for t in range(8):
            assert torch.equal(out[t], video[t, :, top : top + 16, left : left + 16]), f"frame {t} differs"


@pytest.mark.parametrize(
    "transform",
    [
        v2.RandomResizedCrop(20, scale=(0.3, 1.0), antialias=True),
        v2.RandomRotation(30),
        v2.RandomAffine(degrees=15, translate=(0.2, 0.2), scale=(0.8, 1.2)),
        v2.RandomHorizontalFlip(p=0.5),
        v2.ColorJitter(brightness=0.5, contrast=0.5),
        v2.GaussianBlur(5, sigma=(0.1, 2.0)),
        v2.RandomErasing(p=1.0),
        v2.Compose([v2.RandomCrop(28, padding=4), v2.RandomRotation(10)]),
    ],
    ids=lambda t: type(t).__name__,
)
def test_consistent_video_transform_treats_identical_frames_identically(transform) -> None:
    torch.manual_seed(0)
    frame = torch.rand(1, 3, 28, 28)
    video = frame.expand(6, 3, 28, 28).clone()
    out = ConsistentVideoTransform(transform)(video)
    assert type(out) is Tensor
    for t in range(1, 6):
        assert torch.equal(out[t], out[0]), f"frame {t} got other random parameters than frame 0"


def test_consistent_video_transform_matches_torchvision_on_a_video() -> None:
    video = (torch.rand(4, 1, 16, 16) * 255).to(torch.uint8)
    transform = v2.RandomResizedCrop(12, antialias=True)
    torch.manual_seed(11)
    out = ConsistentVideoTransform(transform)(video)
    torch.manual_seed(11)
    expected = transform(tv_tensors.Video(video))
    assert out.dtype == torch.uint8
    assert torch.equal(out, expected.as_subclass(Tensor))


def test_consistent_video_transform_is_deterministic_under_a_seed() -> None:
    video = torch.rand(5, 1, 20, 20)
    transform = ConsistentVideoTransform(v2.RandomAffine(degrees=20, translate=(0.1, 0.1)))
    torch.manual_seed(4)
    first = transform(video)
    torch.manual_seed(4)
    assert torch.equal(first, transform(video))


def test_consistent_video_transform_rejects_bad_input() -> None:
    transform = ConsistentVideoTransform(v2.RandomCrop(8))
    with pytest.raises(ValueError, match=r"video must have shape \(T, C, H, W\).*got \(1, 16, 16\)"):
        transform(torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match=r"C in \(1, 3\), got \(4, 2, 16, 16\)"):
        transform(torch.rand(4, 2, 16, 16))
    with pytest.raises(TypeError, match="video must be a torch.Tensor"):
        transform([[0.0]])
    with pytest.raises(TypeError, match="transform must be callable, got int"):
        ConsistentVideoTransform(3)
