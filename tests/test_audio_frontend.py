"""The fusion models' audio front end: normalized log-mel, and running a front end over many clips."""
import pytest
import torch

from course_lib.features.audio import LogMelSpectrogram, NormalizedLogMel, chunked

N_MELS, HOP = 32, 320
FRAMES = 1 + 16_000 // HOP


def clips() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(16_000) / 16_000
    speech_like = torch.sin(2 * torch.pi * 300 * t) * (t > 0.3) * (t < 0.6)
    return torch.stack([speech_like, 0.05 * torch.randn(16_000, generator=generator)]) * 0.5


def test_front_end_removes_gain_and_has_the_expected_shape():
    waveforms = clips()
    frontend = NormalizedLogMel(N_MELS, HOP).fit(waveforms)
    features = frontend(waveforms)
    assert features.shape == (2, N_MELS, FRAMES)
    torch.testing.assert_close(features.mean(dim=-1), torch.zeros(2, N_MELS), atol=1e-4, rtol=0)
    torch.testing.assert_close(frontend(waveforms * 0.1), features, atol=1e-3, rtol=1e-3)
    pcm = (waveforms * 32767).round().to(torch.int16)
    torch.testing.assert_close(chunked(frontend, pcm, chunk=1), features, atol=1e-2, rtol=1e-3)


def test_front_end_is_the_centred_log_mel_divided_by_the_training_spread():
    waveforms = clips()
    frontend = NormalizedLogMel(N_MELS, HOP).fit(waveforms)
    log_mel = LogMelSpectrogram(16000, 400, HOP, N_MELS)(waveforms)
    centred = log_mel - log_mel.mean(dim=-1, keepdim=True)
    assert frontend.std.item() == pytest.approx(centred.std().item(), rel=1e-5)
    torch.testing.assert_close(frontend(waveforms), centred / centred.std())


def test_whole_hops_keeps_the_frames_that_start_inside_the_clip():
    frontend = NormalizedLogMel(N_MELS, HOP, whole_hops=True)
    assert frontend(clips()).shape == (2, N_MELS, 16_000 // HOP)
