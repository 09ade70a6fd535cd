"""Offline speech synthesis with eSpeak NG: determinism, voices, trimming, clear errors."""
import importlib.util
import sys

import numpy as np
import pytest

from course_lib.data import speech

needs_speech = pytest.mark.skipif(not speech.is_available(), reason=speech.INSTALL_HINT)


@needs_speech
def test_same_arguments_give_the_same_samples():
    first = speech.synthesize("seven", voice="en+f3", rate=160, pitch=60)
    speech.synthesize("two", voice="en+m7", rate=300, pitch=10)
    second = speech.synthesize("seven", voice="en+f3", rate=160, pitch=60)
    np.testing.assert_array_equal(first, second)


@needs_speech
def test_output_is_trimmed_float32_in_range():
    wave = speech.synthesize("four")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.2 * 16000 < len(wave) < 1.0 * 16000
    assert np.abs(wave).max() <= 1.0
    threshold = np.abs(wave).max() * 10 ** (speech.TRIM_THRESHOLD_DB / 20)
    assert np.abs(wave[:20]).max() >= threshold * 0.5
    assert np.abs(wave[-20:]).max() >= threshold * 0.5


@needs_speech
def test_voices_rates_and_sample_rates_change_the_audio():
    base = speech.synthesize("three", voice="en")
    for other in (speech.synthesize("three", voice="en+f3"), speech.synthesize("three", voice="en-us+m7")):
        n = min(len(base), len(other))
        assert len(other) != len(base) or not np.allclose(base[:n], other[:n], atol=1e-3)
    assert len(speech.synthesize("three", rate=300)) < 0.8 * len(base)
    native = speech.synthesize("three", sample_rate=speech.ESPEAK_SAMPLE_RATE)
    assert abs(len(native) * 16000 / speech.ESPEAK_SAMPLE_RATE - len(base)) <= 2


@needs_speech
@pytest.mark.parametrize(
    "kwargs, match",
    [({"voice": "xx-nonexistent"}, "unknown eSpeak NG voice"), ({"rate": 10}, "rate"),
     ({"pitch": 120}, "pitch"), ({"sample_rate": 10}, "sample_rate")],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        speech.synthesize("one", **kwargs)


def test_empty_text_is_an_error():
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("  ")


def test_trim_silence_keeps_the_loud_part():
    wave = np.concatenate([np.zeros(5), [0.5, -0.2, 0.001, 0.3], np.full(4, 1e-5)]).astype(np.float32)
    np.testing.assert_array_equal(speech.trim_silence(wave), wave[5:9])


def test_missing_library_raises_an_error_that_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    monkeypatch.setattr(speech.ctypes.util, "find_library", lambda name: None)
    speech._library.cache_clear()
    try:
        assert not speech.is_available()
        with pytest.raises(speech.SpeechUnavailableError, match="apt install libespeak-ng1"):
            speech.synthesize("one")
    finally:
        speech._library.cache_clear()


@pytest.mark.parametrize("module_name", ["course_lib.data", "course_lib.data.av_digits"])
def test_importing_the_datasets_does_not_need_speech_synthesis(module_name, monkeypatch):
    monkeypatch.setitem(sys.modules, "course_lib.data.speech", None)  # importing it now fails
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    spec = importlib.util.find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # raises if the import needed course_lib.data.speech
    assert callable(module.load_arrays)
