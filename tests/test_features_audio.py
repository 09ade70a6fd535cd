import pytest
import torch
import torchaudio

from course_lib.features.audio import frames, log_mel, mfcc, power_spectrogram, stft


@pytest.fixture
def waveforms() -> torch.Tensor:
    """Two 0.25 s clips at 16 kHz: a 440 Hz tone with noise, and quiet noise."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(4000) / 16000
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(4000, generator=g)
    quiet = 1e-3 * torch.randn(4000, generator=g)
    return torch.stack([tone, quiet])


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft,hop_length", [(400, 160), (256, 64), (255, 100)])
def test_stft_matches_torch_stft(waveforms, center, n_fft, hop_length):
    window = torch.hann_window(n_fft)
    ours = stft(waveforms, n_fft, hop_length, window, center=center)
    ref = torch.stft(
        waveforms, n_fft, hop_length, window=window, center=center, pad_mode="reflect", return_complex=True
    )
    assert ours.shape == ref.shape
    assert ours.is_complex()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_fft,hop_length", [(400, 160), (255, 100)])
def test_frames_are_slices_of_the_padded_waveform(waveforms, n_fft, hop_length):
    out = frames(waveforms, n_fft, hop_length)
    pad = n_fft // 2
    assert out.shape == (2, 1 + (4000 + 2 * pad - n_fft) // hop_length, n_fft)
    padded = torch.nn.functional.pad(waveforms[:, None], (pad, pad), mode="reflect")[:, 0]
    for t in (0, 5, out.shape[1] - 1):
        torch.testing.assert_close(out[:, t], padded[:, t * hop_length : t * hop_length + n_fft], atol=0, rtol=0)
    # Frame t is centred on sample t * hop_length of the original waveform.
    torch.testing.assert_close(out[:, 3, pad], waveforms[:, 3 * hop_length], atol=0, rtol=0)


def test_frames_without_centering_start_at_sample_zero(waveforms):
    out = frames(waveforms, 400, 160, center=False)
    assert out.shape == (2, 1 + (4000 - 400) // 160, 400)
    torch.testing.assert_close(out[:, 2], waveforms[:, 320:720], atol=0, rtol=0)


def test_stft_default_window_is_hann_and_rectangular_window_works(waveforms):
    hann = torch.stft(waveforms, 400, 160, window=torch.hann_window(400), return_complex=True)
    torch.testing.assert_close(stft(waveforms, 400, 160), hann, atol=1e-5, rtol=1e-5)
    ones = torch.ones(400)
    rect = torch.stft(waveforms, 400, 160, window=ones, return_complex=True)
    torch.testing.assert_close(stft(waveforms, 400, 160, ones), rect, atol=1e-5, rtol=1e-5)


def test_stft_keeps_leading_dimensions(waveforms):
    batch = waveforms.reshape(2, 1, 1, 4000).expand(2, 3, 1, 4000)
    out = stft(batch, 400, 160)
    assert out.shape == (2, 3, 1, 201, 26)
    torch.testing.assert_close(out[1, 2, 0], stft(waveforms[1], 400, 160))


def test_stft_finds_the_tone_frequency(waveforms):
    spectrum = stft(waveforms[0], 400, 160).abs()
    peak_bin = spectrum.mean(dim=-1).argmax().item()
    assert peak_bin * 16000 / 400 == pytest.approx(440, abs=16000 / 400)


def test_power_spectrogram_matches_torchaudio(waveforms):
    ref = torchaudio.transforms.Spectrogram(n_fft=400, hop_length=160, power=2.0)(waveforms)
    ours = power_spectrogram(waveforms)
    assert ours.shape == ref.shape == (2, 201, 26)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_log_mel_matches_torchaudio_per_waveform(waveforms):
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=64)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
    ours = log_mel(waveforms)
    assert ours.shape == (2, 64, 26)
    for i in range(2):
        torch.testing.assert_close(ours[i], to_db(mel(waveforms[i])), atol=1e-4, rtol=1e-5)
    # Clipping is per waveform: the quiet clip is unaffected by the loud one beside it.
    assert ours[1].max() - ours[1].min() <= 80.0 + 1e-3
    torch.testing.assert_close(ours[1], log_mel(waveforms[1]))


def test_log_mel_without_clipping_matches_torchaudio_batched(waveforms):
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)
    torch.testing.assert_close(log_mel(waveforms, n_mels=40, top_db=None), to_db(mel(waveforms)))


def test_mfcc_matches_torchaudio(waveforms):
    transform = torchaudio.transforms.MFCC(
        sample_rate=16000, n_mfcc=13, melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 64}
    )
    ours = mfcc(waveforms)
    assert ours.shape == (2, 13, 26)
    for i in range(2):
        torch.testing.assert_close(ours[i], transform(waveforms[i]), atol=1e-3, rtol=1e-5)


def test_mfcc_is_the_dct_of_the_log_mel(waveforms):
    dct = torchaudio.functional.create_dct(n_mfcc=13, n_mels=64, norm="ortho")  # (n_mels, n_mfcc)
    expected = torch.einsum("mk,bmt->bkt", dct, log_mel(waveforms))
    torch.testing.assert_close(mfcc(waveforms), expected, atol=1e-3, rtol=1e-5)


def test_features_at_8_khz_match_torchaudio():
    """The settings of notebook 07: 8 kHz audio, 25 ms windows every 10 ms, 40 mel bands."""
    g = torch.Generator().manual_seed(1)
    t = torch.arange(8000) / 8000
    waveform = torch.sin(2 * torch.pi * 300 * t) * torch.sin(2 * torch.pi * 3 * t) + 0.1 * torch.randn(8000, generator=g)
    kwargs = {"n_fft": 200, "hop_length": 80, "n_mels": 40}
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=8000, **kwargs)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
    ours = log_mel(waveform, sample_rate=8000, **kwargs)
    assert ours.shape == (40, 101)
    torch.testing.assert_close(ours, to_db(mel(waveform)), atol=1e-4, rtol=1e-5)
    reference = torchaudio.transforms.MFCC(sample_rate=8000, n_mfcc=13, melkwargs=kwargs)(waveform)
    ours = mfcc(waveform, sample_rate=8000, n_mfcc=13, **kwargs)
    assert ours.shape == (13, 101)
    torch.testing.assert_close(ours, reference, atol=1e-3, rtol=1e-5)
    spectrum = power_spectrogram(waveform, n_fft=200, hop_length=80)
    torch.testing.assert_close(spectrum, torchaudio.transforms.Spectrogram(n_fft=200, hop_length=80)(waveform),
                               atol=1e-4, rtol=1e-4)


def test_float64_waveform_keeps_its_dtype_and_matches_torchaudio_in_float64(waveforms):
    waveforms = waveforms.double()
    ours = log_mel(waveforms, n_mels=40, top_db=None)
    assert ours.dtype == torch.float64
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40).double()
    torch.testing.assert_close(ours, torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)(mel(waveforms)))
    spectrum = stft(waveforms, 400, 160)
    assert spectrum.dtype == torch.complex128
    reference = torch.stft(waveforms, 400, 160, window=torch.hann_window(400, dtype=torch.float64), return_complex=True)
    torch.testing.assert_close(spectrum, reference)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: stft(torch.zeros(1000, dtype=torch.int16), 400, 160), "float tensor"),
        (lambda: stft(torch.zeros(300), 400, 160, center=False), "longer than the audio waveform"),
        (lambda: stft(torch.zeros(100), 400, 160, center=True), "reflection"),
        (lambda: stft(torch.zeros(1000), 400, 0), "hop_length"),
        (lambda: stft(torch.zeros(1000), 400, -5), "hop_length"),
        (lambda: stft(torch.zeros(1000), 0, 160), "n_fft"),
        (lambda: stft(torch.zeros(1000), 400, 160, torch.ones(256)), r"\(400,\)"),
        (lambda: frames(torch.zeros(300), 400, 160, center=False), "longer than the audio waveform"),
        (lambda: frames(torch.zeros(1000), 400, 0), "hop_length"),
        (lambda: log_mel(torch.zeros(1000, dtype=torch.int64)), "float tensor"),
        (lambda: log_mel(torch.zeros(1000), hop_length=0), "hop_length"),
        (lambda: mfcc(torch.zeros(1000), n_mfcc=80, n_mels=64), "n_mfcc"),
        (lambda: power_spectrogram([0.0] * 1000), "torch.Tensor"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_features_on_the_gpu_match_the_cpu(waveforms):
    gpu = waveforms.cuda()
    torch.testing.assert_close(stft(gpu, 400, 160).cpu(), stft(waveforms, 400, 160), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(log_mel(gpu).cpu(), log_mel(waveforms), atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(mfcc(gpu).cpu(), mfcc(waveforms), atol=1e-3, rtol=1e-4)
