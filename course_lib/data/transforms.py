"""Preprocessing and augmentation pieces that torchvision and torchaudio leave to the user.

- :func:`channel_mean_std`: per-channel mean and standard deviation of a (training) dataset,
  the numbers ``torchvision.transforms.v2.Normalize`` needs.
- :class:`MinMaxScaler`: min-max normalization of features to ``[0, 1]`` (or another range),
  fitted on the training split; the same numbers as ``sklearn.preprocessing.MinMaxScaler``.
- :class:`RandomGain` and :class:`RandomNoise`: waveform augmentations with one random gain
  or signal-to-noise ratio per waveform; they give what ``torchaudio.functional.gain`` and
  ``torchaudio.functional.add_noise`` give for the drawn values.
- :func:`snr_db`: the signal-to-noise ratio of a noisy waveform, in decibels.
- :class:`ConsistentVideoTransform`: one random ``torchvision.transforms.v2`` transform
  applied with the same parameters to every frame of a clip.

The transforms are callables for a dataset's ``transforms={modality: callable}``::

    from torchvision.transforms import v2
    mean, std = channel_mean_std(AVDigits("train"))
    transforms = {
        "image": v2.Compose([v2.RandomCrop(28, padding=2), v2.Normalize(mean.tolist(), std.tolist())]),
        "audio": nn.Sequential(RandomGain(-6, 6), RandomNoise((0, 10))),   # clips already noisy
    }
    video_transform = ConsistentVideoTransform(v2.RandomResizedCrop(32, scale=(0.7, 1.0)))

SpecAugment needs nothing extra: use ``torchaudio.transforms.SpecAugment`` (or
``TimeMasking`` followed by ``FrequencyMasking``) on a spectrogram; its default fills the
masks with the spectrogram's mean, the right value for a log-mel spectrogram in decibels.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torchaudio
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors


def channel_mean_std(dataset: Dataset, key: str = "image", batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of each channel over a whole dataset.

    Compute them on the training split only and reuse them for validation, test and
    deployment: statistics that have seen the test data leak it into the model.

    Args:
        dataset: items are dicts whose ``key`` holds a float tensor with the channel axis
            third from the end: an image ``(C, H, W)`` or a video ``(T, C, H, W)``, all of the
            same shape. Build the dataset without random augmentation.
        key: the modality to measure.
        batch_size: items read at a time (memory only; the result does not depend on it).

    Returns:
        ``(mean, std)``, float32 ``(C,)`` each; ``std`` is the population standard deviation
        (``correction=0``) over every pixel (and frame) of every item.
    """
    if len(dataset) == 0:
        raise ValueError("channel_mean_std needs a dataset with at least one item, got an empty one")
    first = dataset[0]
    if not isinstance(first, dict) or key not in first:
        found = sorted(first) if isinstance(first, dict) else type(first).__name__
        raise KeyError(f"channel_mean_std: dataset items have no key {key!r}; found {found}")
    if not isinstance(first[key], Tensor) or first[key].dim() not in (3, 4):
        shape = tuple(first[key].shape) if isinstance(first[key], Tensor) else type(first[key]).__name__
        raise ValueError(
            f"channel_mean_std: {key!r} must be a tensor of shape (C, H, W) or (T, C, H, W), got {shape}"
        )
    total = torch.zeros((), dtype=torch.float64)
    total_sq = torch.zeros((), dtype=torch.float64)
    count = 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        collate_fn=lambda items: torch.stack([item[key] for item in items]))
    for batch in loader:  # (B, C, H, W) or (B, T, C, H, W)
        values = batch.double().movedim(-3, 0).reshape(batch.shape[-3], -1)  # (C, everything else)
        total = total + values.sum(dim=1)
        total_sq = total_sq + (values**2).sum(dim=1)
        count += values.shape[1]
    mean = total / count
    variance = (total_sq / count - mean**2).clamp_min(0.0)
    return mean.float(), variance.sqrt().float()


class MinMaxScaler:
    """Scale each feature (column) linearly so that its training minimum maps to ``low`` and its maximum to ``high``.

    ``x' = low + (x - min) * (high - low) / (max - min)``, with ``min`` and ``max`` per column,
    measured by :meth:`fit` on the training split and then frozen. New data can fall outside
    ``[low, high]`` (nothing is clipped). A column that is constant in the training data has
    ``max - min = 0`` and is only shifted, as in ``sklearn.preprocessing.MinMaxScaler``.
    Both ends come from one sample each, so a single outlier in the training data sets the
    scale of every other value: standardization (z-scores) or a robust scaler is safer then.

    Args:
        feature_range: ``(low, high)`` with ``low < high``; default ``(0, 1)``.

    Example::

        scaler = MinMaxScaler().fit(train_features)         # (N, D)
        train_01, test_01 = scaler.transform(train_features), scaler.transform(test_features)
    """

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        low, high = _check_range(feature_range, "MinMaxScaler feature_range")
        if low == high:
            raise ValueError(f"MinMaxScaler feature_range must have low < high, got {feature_range!r}")
        self.feature_range = (low, high)
        self.data_min: Tensor | None = None
        self.data_max: Tensor | None = None

    def fit(self, features: Tensor) -> MinMaxScaler:
        """Measure the per-column minimum and maximum of ``features`` ``(N, D)`` (or ``(N,)``, one feature)."""
        if not isinstance(features, Tensor) or not features.is_floating_point():
            found = features.dtype if isinstance(features, Tensor) else type(features).__name__
            raise TypeError(f"MinMaxScaler.fit needs a float tensor of shape (N, D), got {found}")
        if features.dim() not in (1, 2) or features.shape[0] == 0:
            raise ValueError(f"MinMaxScaler.fit needs shape (N, D) or (N,) with N > 0, got {tuple(features.shape)}")
        self.data_min, self.data_max = features.amin(dim=0), features.amax(dim=0)
        return self

    def _scale(self) -> tuple[Tensor, Tensor]:
        if self.data_min is None or self.data_max is None:
            raise RuntimeError("MinMaxScaler: call fit(training_features) before transform")
        span = self.data_max - self.data_min
        span = torch.where(span == 0, torch.ones_like(span), span)
        low, high = self.feature_range
        return self.data_min, (high - low) / span

    def transform(self, features: Tensor) -> Tensor:
        """``(N, D)`` -> ``(N, D)`` scaled with the fitted minimum and maximum."""
        data_min, scale = self._scale()
        if features.shape[1:] != data_min.shape:
            raise ValueError(
                f"MinMaxScaler was fitted on {tuple(data_min.shape) or 'one'} feature(s) per row, "
                f"got features of shape {tuple(features.shape)}"
            )
        return self.feature_range[0] + (features - data_min) * scale

    def inverse_transform(self, scaled: Tensor) -> Tensor:
        """Undo :meth:`transform`: scaled ``(N, D)`` -> original units."""
        data_min, scale = self._scale()
        return (scaled - self.feature_range[0]) / scale + data_min

    def __repr__(self) -> str:
        fitted = "unfitted" if self.data_min is None else f"fitted on {self.data_min.numel()} feature(s)"
        return f"MinMaxScaler(feature_range={self.feature_range}, {fitted})"


def _check_waveform(waveform: Tensor, name: str) -> None:
    if not isinstance(waveform, Tensor):
        raise TypeError(f"{name}: audio must be a torch.Tensor of shape (..., n), got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise TypeError(f"{name}: audio must be a float tensor (samples in [-1, 1]), got dtype {waveform.dtype}")
    if waveform.dim() < 1 or waveform.shape[-1] == 0:
        raise ValueError(f"{name}: audio must have shape (..., n) with n > 0 samples, got {tuple(waveform.shape)}")


def _check_range(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    """A number or a (low, high) pair as a (low, high) pair of floats."""
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not pair[0] <= pair[1]:
        raise ValueError(f"{name} must be a number or a (low, high) range with low <= high, got {value!r}")
    return float(pair[0]), float(pair[1])


def _uniform(low: float, high: float, shape: torch.Size, like: Tensor) -> Tensor:
    """Uniform draws in [low, high] from PyTorch's global generator (seeded by ``seed_everything``)."""
    return low + (high - low) * torch.rand(shape, dtype=like.dtype, device=like.device)


class RandomGain(nn.Module):
    """Scale each waveform by a random gain drawn uniformly in ``[min_gain_db, max_gain_db]``.

    A gain of ``g`` dB multiplies the samples by ``10 ** (g / 20)``, as
    ``torchaudio.functional.gain(waveform, g)`` does, with one gain per waveform. It imitates a
    speaker closer to or farther from the microphone. Samples are not clipped.

    Input ``(..., n)`` float; every waveform along the leading axes gets its own gain.
    """

    def __init__(self, min_gain_db: float = -6.0, max_gain_db: float = 6.0) -> None:
        super().__init__()
        self.min_gain_db, self.max_gain_db = _check_range((min_gain_db, max_gain_db), "RandomGain gain_db")

    def forward(self, waveform: Tensor) -> Tensor:
        _check_waveform(waveform, "RandomGain")
        gain_db = _uniform(self.min_gain_db, self.max_gain_db, waveform.shape[:-1], waveform)  # (...,)
        return waveform * 10 ** (gain_db[..., None] / 20)

    def extra_repr(self) -> str:
        return f"min_gain_db={self.min_gain_db}, max_gain_db={self.max_gain_db}"


class RandomNoise(nn.Module):
    """Add white Gaussian noise at a signal-to-noise ratio drawn uniformly from ``snr_db``.

    The noise is scaled by ``torchaudio.functional.add_noise`` so that, for each waveform,
    ``10 * log10(sum(signal ** 2) / sum(noise ** 2))`` equals the drawn SNR exactly. Lower
    SNR means louder noise: 20 dB is faint hiss, 0 dB noise as loud as the speech.

    Args:
        snr_db: a fixed SNR in dB, or a ``(low, high)`` range to draw one from per waveform.

    Input ``(..., n)`` float; every waveform along the leading axes gets its own noise and SNR.
    A silent waveform (all zeros) is returned unchanged: it has no signal to measure against.

    The SNR is measured against the whole input. An input that is already noisy (an AV-Digits
    clip has its speech 6 to 0 dB below its noise) barely changes at the default 10 to 30 dB;
    notebook 02 uses 0 to 10 dB for such clips.
    """

    def __init__(self, snr_db: float | tuple[float, float] = (10.0, 30.0)) -> None:
        super().__init__()
        self.min_snr_db, self.max_snr_db = _check_range(snr_db, "RandomNoise snr_db")

    def forward(self, waveform: Tensor) -> Tensor:
        _check_waveform(waveform, "RandomNoise")
        snr = _uniform(self.min_snr_db, self.max_snr_db, waveform.shape[:-1], waveform)  # (...,)
        return torchaudio.functional.add_noise(waveform, torch.randn_like(waveform), snr)

    def extra_repr(self) -> str:
        return f"snr_db=({self.min_snr_db}, {self.max_snr_db})"


def snr_db(clean: Tensor, noisy: Tensor) -> Tensor:
    """Signal-to-noise ratio of ``noisy`` against ``clean``, in dB: ``10 log10(|clean|^2 / |noisy - clean|^2)``.

    Args:
        clean, noisy: float ``(..., n)`` of the same shape.

    Returns:
        ``(...,)``, one ratio per waveform (``inf`` where ``noisy`` equals ``clean``).
    """
    if clean.shape != noisy.shape:
        raise ValueError(
            f"snr_db: clean and noisy must have the same shape (..., n), got {tuple(clean.shape)} "
            f"and {tuple(noisy.shape)}"
        )
    signal_power = clean.double().pow(2).sum(dim=-1)
    noise_power = (noisy.double() - clean.double()).pow(2).sum(dim=-1)
    return (10 * torch.log10(signal_power / noise_power)).to(clean.dtype)


class ConsistentVideoTransform(nn.Module):
    """Apply a ``torchvision.transforms.v2`` transform to a clip with ONE draw of its random parameters.

    A random crop, flip or colour change must be the same in every frame, or the clip
    jitters and the motion the model should learn is buried under motion the augmentation
    made up. ``v2`` transforms draw their parameters once per call and apply them to every
    leading index of a ``tv_tensors.Video``, so the whole clip goes through one call. (Calling
    the transform frame by frame in a loop draws new parameters for every frame: the bug.)

    Args:
        transform: a ``v2`` transform (or ``v2.Compose``) that accepts images.

    Input ``(T, C, H, W)`` with ``C`` in (1, 3), float in [0, 1] or uint8; output
    ``(T, C', H', W')`` as a plain tensor, with the shape the transform gives each frame.
    """

    def __init__(self, transform: Callable) -> None:
        super().__init__()
        if not callable(transform):
            raise TypeError(f"ConsistentVideoTransform: transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def forward(self, video: Tensor) -> Tensor:
        if not isinstance(video, Tensor):
            raise TypeError(f"video must be a torch.Tensor of shape (T, C, H, W), got {type(video).__name__}")
        if video.dim() != 4 or video.shape[1] not in (1, 3):
            raise ValueError(
                f"video must have shape (T, C, H, W) with C in (1, 3), got {tuple(video.shape)}"
            )
        out = self.transform(tv_tensors.Video(video))
        return out.as_subclass(Tensor)

    def extra_repr(self) -> str:
        return f"transform={self.transform!r}" if not isinstance(self.transform, nn.Module) else ""
