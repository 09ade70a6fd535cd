"""Time-frequency features of audio: a hand-written STFT, spectrograms, log-mel and MFCC.

``stft`` is written out step by step (``frames`` pads and cuts the waveform into
overlapping frames, then a window and an FFT) to show what a spectrogram is; it matches
``torch.stft``. The mel features are thin wrappers around ``torchaudio.transforms``.
``NormalizedLogMel`` is the audio front end of the fusion models (notebooks 03, 09, 10):
log-mel with each band's mean over time removed, scaled by a spread fitted on training
clips; ``chunked`` runs any front end over many clips, a few hundred at a time.
The defaults suit 16 kHz speech: 25 ms windows (``n_fft=400``) every 10 ms
(``hop_length=160``); at 8 kHz the same durations are ``n_fft=200``, ``hop_length=80``.

Every function takes a float waveform of shape ``(..., n)`` (any leading batch or
channel dimensions, ``n`` samples) and keeps those leading dimensions.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor


def _check_args(waveform: Tensor, n_fft: int, hop_length: int, center: bool = True) -> None:
    """Raise a clear error for a waveform or frame size that cannot be framed."""
    if not isinstance(waveform, Tensor):
        raise TypeError(f"audio waveform must be a torch.Tensor, got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise TypeError(
            f"audio waveform must be a float tensor (samples in [-1, 1]), got dtype {waveform.dtype}"
        )
    if waveform.dim() < 1:
        raise ValueError("audio waveform must have shape (..., n), got a 0-d tensor")
    for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    n = waveform.shape[-1]
    if center and n_fft // 2 >= n:
        raise ValueError(
            f"center=True pads n_fft // 2 = {n_fft // 2} samples by reflection, which needs a "
            f"longer audio waveform; got {n} samples"
        )
    if not center and n_fft > n:
        raise ValueError(f"n_fft = {n_fft} is longer than the audio waveform ({n} samples) with center=False")


def frames(waveform: Tensor, n_fft: int, hop_length: int, center: bool = True) -> Tensor:
    """Cut a waveform into overlapping frames: ``(..., n)`` -> ``(..., n_frames, n_fft)``.

    Frame ``t`` holds samples ``t * hop_length`` to ``t * hop_length + n_fft - 1`` of the
    (padded) waveform. With ``center=True`` the waveform is first padded with
    ``n_fft // 2`` samples on both sides by reflection, so that frame ``t`` is centred on
    sample ``t * hop_length``. In general ``n_frames = 1 + (n_padded - n_fft) // hop_length``:
    ``1 + n // hop_length`` for an even ``n_fft`` with ``center=True``, and
    ``1 + (n - n_fft) // hop_length`` without padding. These are the frames of :func:`stft`.
    """
    _check_args(waveform, n_fft, hop_length, center)
    if center:
        n, pad = waveform.shape[-1], n_fft // 2
        # F.pad's reflect mode wants (batch, channel, time): flatten the leading dims.
        flat = waveform.reshape(-1, 1, n)
        waveform = F.pad(flat, (pad, pad), mode="reflect").reshape(*waveform.shape[:-1], n + 2 * pad)
    return waveform.unfold(-1, n_fft, hop_length)


def stft(
    waveform: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor | None = None,
    center: bool = True,
) -> Tensor:
    """Short-time Fourier transform, written out: pad and frame (:func:`frames`), window, FFT.

    Args:
        waveform: ``(..., n)`` float samples.
        n_fft: frame length in samples (also the FFT size).
        hop_length: samples between the starts of consecutive frames.
        window: ``(n_fft,)`` taper applied to every frame; ``None`` uses a Hann window
            (``torch.hann_window(n_fft)``). Note that ``torch.stft`` itself defaults to
            no taper (a rectangular window).
        center: pad ``n_fft // 2`` samples on both sides by reflection, so that frame
            ``t`` is centred on sample ``t * hop_length`` (as ``torch.stft`` does).

    Returns:
        Complex tensor ``(..., n_fft // 2 + 1, frames)``: one column of frequency bins
        (0 Hz up to the Nyquist frequency) per frame, with
        ``frames = 1 + (n_padded - n_fft) // hop_length``.
    """
    _check_args(waveform, n_fft, hop_length, center)
    if window is None:
        window = torch.hann_window(n_fft, device=waveform.device, dtype=waveform.dtype)
    if window.shape != (n_fft,):
        raise ValueError(f"window must have shape ({n_fft},) = (n_fft,), got {tuple(window.shape)}")
    framed = frames(waveform, n_fft, hop_length, center)  # (..., n_frames, n_fft)
    window = window.to(device=waveform.device, dtype=waveform.dtype)
    spectrum = torch.fft.rfft(framed * window, dim=-1)  # (..., n_frames, n_fft//2+1)
    return spectrum.transpose(-1, -2)  # (..., n_fft//2+1, n_frames)


def power_spectrogram(
    waveform: Tensor,
    n_fft: int = 400,
    hop_length: int = 160,
    window: Tensor | None = None,
    center: bool = True,
) -> Tensor:
    """Power spectrogram ``|STFT|^2``: ``(..., n)`` -> ``(..., n_fft // 2 + 1, frames)``.

    Same arguments as :func:`stft`; equal to
    ``torchaudio.transforms.Spectrogram(n_fft, hop_length=hop_length, power=2.0)``.
    """
    return stft(waveform, n_fft, hop_length, window, center).abs().pow(2)


def _per_waveform(waveform: Tensor, transform: torch.nn.Module) -> Tensor:
    """Apply ``transform`` to each waveform on its own: ``(..., n)`` -> ``(..., F, frames)``.

    ``AmplitudeToDB(top_db=...)`` clips to ``max - top_db`` where the max is taken over
    everything but the batch dimension of a 4-D input; a ``(batch, 1, n)`` layout makes
    that max per waveform, so a clip does not depend on which other clips share its batch.
    """
    out = transform(waveform.reshape(-1, 1, waveform.shape[-1]))  # (N, 1, F, frames)
    return out.reshape(*waveform.shape[:-1], *out.shape[-2:])


class LogMelSpectrogram(torch.nn.Module):
    """Log-mel spectrogram in decibels as a module: ``(..., n)`` -> ``(..., n_mels, frames)``.

    ``torchaudio.transforms.MelSpectrogram`` (Hann window, reflect padding, power 2)
    followed by ``torchaudio.transforms.AmplitudeToDB(stype="power", top_db=top_db)``,
    with ``frames = 1 + n // hop_length``. ``top_db`` clips each waveform's spectrogram
    to at most ``top_db`` dB below its own peak (``None``: no clipping).
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160,
                 n_mels: int = 64, top_db: float | None = 80.0) -> None:
        super().__init__()
        self.n_mels, self.n_fft, self.hop_length = n_mels, n_fft, hop_length
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=top_db)

    def forward(self, waveform: Tensor) -> Tensor:
        _check_args(waveform, self.n_fft, self.hop_length)
        return _per_waveform(waveform, torch.nn.Sequential(self.mel, self.to_db))


def log_mel(
    waveform: Tensor,
    sample_rate: int = 16000,
    n_mels: int = 64,
    n_fft: int = 400,
    hop_length: int = 160,
    top_db: float | None = 80.0,
) -> Tensor:
    """Log-mel spectrogram in decibels: ``(..., n)`` -> ``(..., n_mels, frames)``.

    The one-call form of :class:`LogMelSpectrogram`.
    """
    _check_args(waveform, n_fft, hop_length)
    transform = LogMelSpectrogram(sample_rate, n_fft, hop_length, n_mels, top_db)
    return transform.to(device=waveform.device, dtype=waveform.dtype)(waveform)


def mfcc(
    waveform: Tensor,
    sample_rate: int = 16000,
    n_mfcc: int = 13,
    n_mels: int = 64,
    n_fft: int = 400,
    hop_length: int = 160,
) -> Tensor:
    """Mel-frequency cepstral coefficients: ``(..., n)`` -> ``(..., n_mfcc, frames)``.

    ``torchaudio.transforms.MFCC``: the log-mel spectrogram of :func:`log_mel`
    (``top_db=80``) followed by an orthonormal DCT-II over the mel axis, of which the
    first ``n_mfcc`` coefficients are kept (coefficient 0 is the overall loudness).
    """
    _check_args(waveform, n_fft, hop_length)
    if not 0 < n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc must be in [1, n_mels = {n_mels}], got {n_mfcc}")
    transform = torchaudio.transforms.MFCC(
        sample_rate=sample_rate,
        n_mfcc=n_mfcc,
        melkwargs={"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels},
    ).to(device=waveform.device, dtype=waveform.dtype)
    return _per_waveform(waveform, transform)


class NormalizedLogMel(torch.nn.Module):
    """Waveforms (B, n_samples) -> mean-normalized log-mel spectrograms (B, n_mels, T).

    Each clip's log-mel (in dB, :class:`LogMelSpectrogram`) has the mean over time of every
    mel band removed (cepstral mean normalization): a constant gain, or a fixed filter on
    the channel, multiplies every band's power by a constant, which in dB is a constant
    offset per band, so this takes it out. The result is divided by one standard deviation
    measured on the training clips (:meth:`fit`), so every split is scaled the same way.
    With ``whole_hops=True`` only the ``n_samples // hop_length`` frames that start inside
    the clip are kept (T steps of exactly ``hop_length`` samples, which lines the audio up
    with a video's frames).
    """

    def __init__(self, n_mels: int = 32, hop_length: int = 320, sample_rate: int = 16000,
                 n_fft: int = 400, whole_hops: bool = False) -> None:
        super().__init__()
        self.n_mels, self.hop_length, self.whole_hops = n_mels, hop_length, whole_hops
        self.log_mel = LogMelSpectrogram(sample_rate, n_fft, hop_length, n_mels)
        self.register_buffer("std", torch.tensor(1.0))

    def centred(self, waveforms: Tensor) -> Tensor:
        """(B, n_samples) -> log-mel minus each band's mean over time (B, n_mels, T), in dB."""
        spectrograms = self.log_mel(waveforms)
        if self.whole_hops:
            spectrograms = spectrograms[..., : waveforms.shape[-1] // self.hop_length]
        return spectrograms - spectrograms.mean(dim=-1, keepdim=True)

    @torch.no_grad()
    def fit(self, pcm: np.ndarray | Tensor) -> NormalizedLogMel:
        """Set ``std`` from the training clips (N, n_samples), int16 PCM or float; returns self."""
        self.std.copy_(chunked(self.centred, pcm).std())
        return self

    def forward(self, waveforms: Tensor) -> Tensor:
        """(B, n_samples) -> (B, n_mels, T)."""
        return self.centred(waveforms) / self.std


@torch.no_grad()
def chunked(frontend: Callable[[Tensor], Tensor], pcm: np.ndarray | Tensor, chunk: int = 500) -> Tensor:
    """int16 PCM clips (N, n_samples) or float waveforms in [-1, 1] -> ``frontend`` outputs, ``chunk`` clips at a time."""
    waveforms = torch.as_tensor(pcm)
    if not waveforms.is_floating_point():
        waveforms = waveforms.float() / 32768.0
    return torch.cat([frontend(waveforms[i : i + chunk]) for i in range(0, len(waveforms), chunk)])
