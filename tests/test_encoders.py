"""Encoders: output shapes, input checks, and the log-mel front end against torchaudio."""
import pytest
import torch
import torchaudio

from course_lib.models import AudioEncoder, ImageEncoder, LogMelSpectrogram, MLPEncoder

SAMPLE_RATE = 16_000
N_MELS = 32
HOP = 160


@pytest.mark.parametrize(
    ("in_channels", "shape"),
    [(1, (4, 1, 28, 28)), (3, (2, 3, 32, 40)), (1, (2, 1, 4, 4))],
)
def test_image_encoder_shape(in_channels, shape):
    encoder = ImageEncoder(in_channels=in_channels, out_dim=16, channels=(4, 8))
    assert encoder(torch.randn(shape)).shape == (shape[0], 16)
    assert encoder.out_dim == 16


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((4, 3, 28, 28), "(B, 1, H, W)"),
        ((4, 28, 28), "(B, 1, H, W)"),
        ((4, 1, 2, 28), "at least 4x4"),
    ],
)
def test_image_encoder_rejects_bad_shape(shape, expected):
    encoder = ImageEncoder(channels=(4, 8), modality="digit")
    with pytest.raises(ValueError) as error:
        encoder(torch.randn(shape))
    message = str(error.value)
    assert "digit" in message and expected in message and str(shape) in message


def test_image_encoder_rejects_non_tensor():
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        ImageEncoder()([[0.0]])


@pytest.mark.parametrize("frames", [8, 17, 101])
def test_audio_encoder_variable_length(frames):
    torch.manual_seed(0)
    encoder = AudioEncoder(n_mels=N_MELS, out_dim=12, channels=(4, 8, 8)).eval()
    x = torch.randn(3, N_MELS, frames)
    out = encoder(x)
    assert out.shape == (3, 12)
    torch.testing.assert_close(out[1:2], encoder(x[1:2]))  # each clip alone gives its row of the batch
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((3, 40, 50), f"(B, {N_MELS}, T)"),
        ((3, 1, N_MELS, 50), f"(B, {N_MELS}, T)"),
        ((3, N_MELS, 7), "T >= 8"),
    ],
)
def test_audio_encoder_rejects_bad_spectrogram(shape, expected):
    encoder = AudioEncoder(n_mels=N_MELS, channels=(4, 8, 8))
    with pytest.raises(ValueError) as error:
        encoder(torch.randn(shape))
    message = str(error.value)
    assert "audio spectrogram" in message and expected in message and str(shape) in message


def test_audio_encoder_rejects_bad_waveform():
    encoder = AudioEncoder(n_mels=N_MELS, waveform_input=True)
    pattern = r"audio waveform must have shape \(B, n_samples\), got \(2, 1, 16000\)"
    with pytest.raises(ValueError, match=pattern):
        encoder(torch.randn(2, 1, 16_000))


def reference_log_mel(waveforms: torch.Tensor) -> torch.Tensor:
    """torchaudio's MelSpectrogram + AmplitudeToDB applied to each clip on its own."""
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=400, hop_length=HOP, n_mels=N_MELS
    )
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
    return torch.stack([to_db(mel(clip)) for clip in waveforms])


def loud_and_quiet_clips() -> torch.Tensor:
    """Two 0.5 s clips 80 dB apart, so that a batch-wide top_db would clip the quiet one."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(2, SAMPLE_RATE // 2, generator=generator)
    return noise * torch.tensor([[1.0], [1e-4]])


def test_log_mel_matches_torchaudio_per_clip():
    waveforms = loud_and_quiet_clips()
    reference = reference_log_mel(waveforms)
    log_mel = LogMelSpectrogram(SAMPLE_RATE, n_fft=400, hop_length=HOP, n_mels=N_MELS)(waveforms)
    assert log_mel.shape == (2, N_MELS, 1 + waveforms.shape[1] // HOP)
    torch.testing.assert_close(log_mel, reference)
    # The clips are chosen so that clipping against the batch maximum would differ.
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=400, hop_length=HOP, n_mels=N_MELS
    )
    batch_wide = torchaudio.transforms.AmplitudeToDB(top_db=80.0)(mel(waveforms))
    assert not torch.allclose(batch_wide, reference)


def test_audio_encoder_waveform_input_matches_spectrogram_input():
    waveforms = loud_and_quiet_clips()
    torch.manual_seed(0)
    from_waveform = AudioEncoder(n_mels=N_MELS, out_dim=10, channels=(4, 8), waveform_input=True)
    torch.manual_seed(0)
    from_spectrogram = AudioEncoder(n_mels=N_MELS, out_dim=10, channels=(4, 8))
    from_waveform.eval()
    from_spectrogram.eval()
    expected = from_spectrogram(reference_log_mel(waveforms))
    torch.testing.assert_close(from_waveform(waveforms), expected)
    # each clip's embedding does not depend on the other clips of the batch
    torch.testing.assert_close(from_waveform(waveforms[1:]), expected[1:])


def test_mlp_encoder_shape_and_layers():
    encoder = MLPEncoder(in_dim=10, out_dim=6, hidden=(16, 8), dropout=0.1)
    assert encoder(torch.randn(5, 10)).shape == (5, 6)
    linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    linear_sizes = [(m.in_features, m.out_features) for m in linears]
    assert linear_sizes == [(10, 16), (16, 8), (8, 6)]
    assert MLPEncoder(in_dim=10, out_dim=6, hidden=())(torch.randn(2, 10)).shape == (2, 6)


def test_mlp_encoder_rejects_bad_shape():
    encoder = MLPEncoder(in_dim=10, modality="text")
    with pytest.raises(ValueError, match=r"text must have shape \(B, 10\), got \(5, 9\)"):
        encoder(torch.randn(5, 9))
