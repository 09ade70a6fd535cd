"""Checks of notebook 07's exercises (audio features); each is called from the exercise's check cell."""
from __future__ import annotations

import math
import warnings

import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from course_lib.exercises.core import NotYet, exercise, fraction, require, require_keys

SAMPLE_RATE, N_FFT, N_MELS, N_MFCC = 8000, 200, 40, 13


def _tensor(value: object, what: str, dims: int) -> torch.Tensor:
    require(isinstance(value, torch.Tensor), f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    require(value.dim() == dims, f"{what} should have {dims} dimensions, got shape {tuple(value.shape)}.")
    return value


def _accuracy(value: object, what: str) -> None:
    fraction(value, what, kind="an accuracy", hint="train_and_test(features) returns a dict; take its 'accuracy'.")


def _accuracies(value: object, keys: set, what: str) -> None:
    require_keys(value, keys, what)
    for key, accuracy in value.items():
        _accuracy(accuracy, f"{what}[{key!r}]")


def max_empty_free_mels(n_fft: int, sample_rate: int = SAMPLE_RATE) -> int:
    """The largest number of mel bands for which no filter of the n_fft filterbank is all zero."""
    best = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchaudio warns about each filterbank with an empty filter
        for n_mels in range(1, n_fft):
            bank = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
            if (bank.sum(dim=0) == 0).any():
                break
            best = n_mels
    return best


@exercise("07", 1)
def exercise_1(filterbank: torch.Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
               n_mels: int = N_MELS) -> str:
    filterbank = _tensor(filterbank, "my_filterbank", 2)
    n_freqs = n_fft // 2 + 1
    if filterbank.shape == (n_mels, n_freqs):
        raise NotYet(f"my_filterbank has shape {tuple(filterbank.shape)}: rows and columns are swapped. "
                     f"Hint: one row per STFT bin (hertz[:, None]), one column per filter: ({n_freqs}, {n_mels}).")
    require(filterbank.shape == (n_freqs, n_mels),
            f"my_filterbank should have shape ({n_freqs}, {n_mels}), one row per STFT bin and one column "
            f"per filter, got {tuple(filterbank.shape)}.")
    reference = AF.melscale_fbanks(n_freqs, 0.0, sample_rate / 2, n_mels, sample_rate)
    error = (filterbank.float() - reference).abs().max().item()
    require(error < 1e-4,
            f"my_filterbank differs from torchaudio's by up to {error:.3g}. Hint: space the N_MELS + 2 points "
            "evenly in mel (not in hertz) from 0 to the Nyquist frequency, convert them back to hertz, and "
            "clamp the smaller of the rising and falling edges at 0.")
    return f"largest difference to torchaudio's filterbank: {error:.1e}."


@exercise("07", 2)
def exercise_2(with_deltas: torch.Tensor, delta_accuracy: float, n_mfcc: int = N_MFCC) -> str:
    features = _tensor(with_deltas, "with_deltas", 3)
    require(features.shape[1] == 3 * n_mfcc,
            f"with_deltas should hold {3 * n_mfcc} features a frame (MFCC, deltas, delta-deltas) on dim 1, "
            f"got shape {tuple(features.shape)}. Hint: torch.cat([...], dim=1).")
    mfccs, deltas, delta_deltas = features.split(n_mfcc, dim=1)
    compute = AT.ComputeDeltas()
    require(torch.allclose(deltas, compute(mfccs), atol=1e-3),
            "rows 13 to 25 of with_deltas are not the deltas of rows 0 to 12. Hint: AT.ComputeDeltas()(mfccs).")
    require(torch.allclose(delta_deltas, compute(deltas), atol=1e-3),
            "rows 26 to 38 are not the deltas of the deltas. Hint: apply ComputeDeltas to the deltas.")
    _accuracy(delta_accuracy, "delta_accuracy")
    return f"39 features a frame; test accuracy with deltas {delta_accuracy:.3f}."


@exercise("07", 3)
def exercise_3(max_mels_64: int, skipped_fraction: float, window_accuracy: dict) -> str:
    expected = max_empty_free_mels(64)
    require(isinstance(max_mels_64, int) and not isinstance(max_mels_64, bool),
            f"max_mels_64 should be an int, got {type(max_mels_64).__name__}.")
    require(max_mels_64 == expected,
            f"max_mels_64 is {max_mels_64}, but that is not the largest number of bands with no all-zero filter. "
            "Hint: for each n_mels, build AF.melscale_fbanks(33, 0.0, 4000.0, n_mels, 8000) and test "
            "(bank.sum(dim=0) == 0).any(); stop at the first n_mels that has an empty filter.")
    require(isinstance(skipped_fraction, (int, float)),
            f"skipped_fraction should be a number, got {type(skipped_fraction).__name__}.")
    gap = (160 - 64) / 160
    require(abs(skipped_fraction - gap) < 0.01,
            f"skipped_fraction is {skipped_fraction:.3f}; with 64-sample frames every 160 samples, "
            f"{160 - 64} of every 160 samples fall in no frame. Hint: mark the samples that frames(...) "
            "touches, for example by framing torch.arange(8000.0), and count the others.")
    _accuracies(window_accuracy, {8, 64}, "window_accuracy")
    return f"{expected} bands at most for a 64-point FFT; {100 * gap:.0f} % of the samples skipped by the 20 ms hop."


@exercise("07", 4)
def exercise_4(cmn_accuracy: dict, cmn_change: dict) -> str:
    _accuracies(cmn_accuracy, {"log-mel", "MFCC"}, "cmn_accuracy")
    keys = {"gain", "microphone", "noise"}
    require(isinstance(cmn_change, dict) and set(cmn_change) == keys,
            f"cmn_change should be a dict with the keys {sorted(keys)}, each (dB change before, after) the "
            "per-band mean subtraction.")
    for key, pair in cmn_change.items():
        require(isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, float) and math.isfinite(v) for v in pair),
                f"cmn_change[{key!r}] should be a tuple of two floats (before, after), got {pair!r}.")
    (gain_before, gain_after), (mic_before, mic_after), (noise_before, noise_after) = (
        cmn_change["gain"], cmn_change["microphone"], cmn_change["noise"])
    require(gain_before > 1 and gain_after < 0.01,
            f"a gain changes the log-mel by a constant per band, which the mean subtraction removes exactly; got "
            f"{gain_before:.3g} dB before and {gain_after:.3g} dB after. Hint: compare cmn(log_mel(0.3 * word)) "
            "with cmn(log_mel(word)), where cmn subtracts each band's mean over time.")
    require(mic_after < 0.25 * mic_before,
            f"the fixed filter should change the normalized log-mel far less than the raw one; got {mic_before:.3g} "
            f"dB before and {mic_after:.3g} dB after. Hint: filter the word with "
            "AF.lfilter(word, torch.tensor([1.0, 0.0]), torch.tensor([1.0, -0.9]), clamp=False).")
    require(noise_after > 0.5 * noise_before,
            f"added noise is not a constant offset in dB, so the mean subtraction should leave most of its "
            f"change; got {noise_before:.3g} dB before and {noise_after:.3g} dB after. Hint: add "
            "0.02 * torch.randn(...) to the word itself, not to its log-mel.")
    return (f"the gain's change falls from {gain_before:.1f} to {gain_after:.1g} dB, the filter's from "
            f"{mic_before:.1f} to {mic_after:.1f} dB, the noise's only from {noise_before:.1f} to {noise_after:.1f} dB.")
