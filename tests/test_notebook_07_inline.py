"""Notebook 07's hand-written STFT agrees with ``course_lib.features.audio`` and ``torch.stft``.

The cells tagged ``inline`` define ``frame_signal`` (pad and cut into frames), ``dft`` (the
discrete Fourier transform as a matrix product) and ``stft_by_hand`` (Hann window and FFT
of every frame). They run on their own; this test executes them and compares.
"""
from __future__ import annotations

import pytest
import torch

from course_lib.features.audio import frames, stft

from notebook_cells import inline_fixture

SETTINGS = [(200, 80), (256, 64), (255, 100)]


inline = inline_fixture("07_audio_features.ipynb")


@pytest.fixture
def waveform() -> torch.Tensor:
    """0.3 s at 8 kHz: a 440 Hz tone that fades in, plus noise."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(2400) / 8000
    return t * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(2400, generator=generator)


@pytest.mark.parametrize("n_fft,hop_length", SETTINGS)
def test_inline_frames_match_library(inline, waveform, n_fft, hop_length):
    mine = inline["frame_signal"](waveform, n_fft, hop_length)
    assert torch.equal(mine, frames(waveform, n_fft, hop_length))


@pytest.mark.parametrize("n_fft,hop_length", SETTINGS)
def test_inline_stft_matches_library_and_torch(inline, waveform, n_fft, hop_length):
    mine = inline["stft_by_hand"](waveform, n_fft, hop_length)
    reference = torch.stft(waveform, n_fft, hop_length, window=torch.hann_window(n_fft), center=True,
                           pad_mode="reflect", return_complex=True)
    assert mine.shape == reference.shape == (n_fft // 2 + 1, 1 + (2400 + 2 * (n_fft // 2) - n_fft) // hop_length)
    torch.testing.assert_close(mine, reference, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(mine, stft(waveform, n_fft, hop_length), atol=1e-4, rtol=1e-5)


def test_inline_stft_finds_the_tone(inline, waveform):
    power = inline["stft_by_hand"](waveform, 200, 80).abs().pow(2)
    peak_hz = power.mean(dim=1).argmax().item() * 8000 / 200
    assert abs(peak_hz - 440) <= 8000 / 200


@pytest.mark.parametrize("n", [200, 255])
def test_inline_dft_matches_rfft(inline, waveform, n):
    frame = waveform[:n]
    mine = inline["dft"](frame)
    assert mine.shape == (n // 2 + 1,) and mine.is_complex()
    torch.testing.assert_close(mine, torch.fft.rfft(frame), atol=1e-4, rtol=1e-4)
