"""Offline speech synthesis with the eSpeak NG engine, called through ctypes.

The engine comes from the PyPI package ``espeakng-loader`` (wheels for Linux x86-64,
macOS arm64 and Windows x86-64); elsewhere the system's ``libespeak-ng`` is used
(``apt install libespeak-ng1`` or ``brew install espeak-ng``)::

    from course_lib.data.speech import synthesize
    wave = synthesize("seven", voice="en+f3", rate=150, pitch=60)   # float32 (n,), 16 kHz

Voices are a language (``en``, ``en-us``, ``en-gb-scotland``, ``en-029``, ...), optionally
with a variant after ``+`` (``m1``-``m8``, ``f1``-``f5``, ``klatt``, ``croak``, ...).

eSpeak NG keeps some state from one utterance to the next (the phase of its pitch
flutter, its gain control), and no call of its API resets it. So that the same
arguments always give the same samples, every call loads a fresh copy of the engine
(about 10 ms); finding and checking the library happens once per process.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from functools import lru_cache

import numpy as np
import torch
import torchaudio

ESPEAK_SAMPLE_RATE = 22050
TRIM_THRESHOLD_DB = -40.0

# Constants of eSpeak NG's C API (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_PARAMETER_PITCH = 3

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.Lock()

INSTALL_HINT = (
    "Speech synthesis needs the eSpeak NG library. Install the PyPI package espeakng-loader "
    "(wheels for Linux x86-64, macOS arm64, Windows x86-64), or the system library: "
    "`sudo apt install libespeak-ng1` (Debian/Ubuntu) or `brew install espeak-ng` (macOS)."
)


class SpeechUnavailableError(RuntimeError):
    """Neither espeakng-loader nor a system libespeak-ng could be found."""


def _unload(lib: ctypes.CDLL) -> None:
    """Close the library so that the next load starts from fresh internal state."""
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    close(lib._handle)


@lru_cache(maxsize=1)
def _library() -> tuple[str, bytes | None]:
    """Path of the eSpeak NG shared library and of its data folder (None: its default)."""
    try:
        import espeakng_loader

        path, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        _unload(ctypes.CDLL(path))
        return path, data.encode()
    except (ImportError, RuntimeError, OSError):
        pass
    path = ctypes.util.find_library("espeak-ng")
    if path is None:
        raise SpeechUnavailableError(INSTALL_HINT)
    try:
        _unload(ctypes.CDLL(path))
    except OSError as error:
        raise SpeechUnavailableError(f"{path} could not be loaded ({error}). {INSTALL_HINT}") from None
    return path, None


def is_available() -> bool:
    """True when eSpeak NG can be loaded on this machine."""
    try:
        _library()
    except SpeechUnavailableError:
        return False
    return True


def _declare(lib: ctypes.CDLL) -> None:
    """Argument types of the eSpeak NG functions used here."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]


def _espeak_samples(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """int16 samples at 22,050 Hz from a freshly loaded engine."""
    path, data = _library()
    chunks: list[np.ndarray] = []

    def collect(samples, n_samples, events) -> int:
        if samples and n_samples > 0:
            chunks.append(np.ctypeslib.as_array(samples, shape=(n_samples,)).copy())
        return 0

    callback = _SYNTH_CALLBACK(collect)
    lib = ctypes.CDLL(path)
    try:
        _declare(lib)
        sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if sample_rate != ESPEAK_SAMPLE_RATE:
            raise RuntimeError(f"espeak_Initialize failed (returned {sample_rate}) with data {data!r}")
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(
                f"unknown eSpeak NG voice {voice!r}; use a language with an optional variant, "
                "e.g. 'en', 'en-us', 'en+f3', 'en+m7'"
            )
        lib.espeak_SetParameter(_PARAMETER_RATE, rate, 0)
        lib.espeak_SetParameter(_PARAMETER_PITCH, pitch, 0)
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        encoded = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} for text {text!r}")
        lib.espeak_Synchronize()
        lib.espeak_Terminate()
    finally:
        _unload(lib)
    if not chunks:
        raise ValueError(f"eSpeak NG produced no audio for text {text!r}")
    return np.concatenate(chunks)


def trim_silence(wave: np.ndarray, threshold_db: float = TRIM_THRESHOLD_DB) -> np.ndarray:
    """Drop the leading and trailing samples quieter than ``threshold_db`` below the peak.

    Args:
        wave: ``(n,)`` samples.

    Returns:
        ``(m,)`` with ``m <= n``: from the first to the last loud enough sample.
    """
    magnitude = np.abs(wave)
    loud = np.flatnonzero(magnitude >= magnitude.max() * 10 ** (threshold_db / 20))
    if loud.size == 0:
        return wave[:0]
    return wave[loud[0] : loud[-1] + 1]


def synthesize(
    text: str,
    *,
    voice: str = "en",
    rate: int = 175,
    pitch: int = 50,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Speak ``text`` with eSpeak NG; deterministic (same arguments, same samples).

    Args:
        text: what to say, e.g. ``"seven"``.
        voice: eSpeak NG voice, e.g. ``"en"``, ``"en-us"``, ``"en+f3"``, ``"en+m7"``.
        rate: speaking rate in words per minute, 80-450.
        pitch: base pitch, 0-99 (50 is the voice's normal pitch).
        sample_rate: output rate in Hz; eSpeak's 22,050 Hz is resampled with
            ``torchaudio.functional.resample``.

    Returns:
        float32 ``(n,)`` in [-1, 1], leading and trailing silence trimmed.

    Raises:
        SpeechUnavailableError: eSpeak NG is not installed (the message says how to install it).
        ValueError: empty text, unknown voice, or rate, pitch or sample_rate out of range.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"voice must be a non-empty string such as 'en+f3', got {voice!r}")
    if not isinstance(rate, int) or not 80 <= rate <= 450:
        raise ValueError(f"rate must be an int in [80, 450] words per minute, got {rate!r}")
    if not isinstance(pitch, int) or not 0 <= pitch <= 99:
        raise ValueError(f"pitch must be an int in [0, 99], got {pitch!r}")
    if not isinstance(sample_rate, int) or sample_rate < 1000:
        raise ValueError(f"sample_rate must be an int >= 1000 Hz, got {sample_rate!r}")
    with _LOCK:
        samples = _espeak_samples(text, voice, rate, pitch)
    wave = trim_silence(samples.astype(np.float32) / 32768.0)
    if sample_rate != ESPEAK_SAMPLE_RATE:
        wave = torchaudio.functional.resample(
            torch.from_numpy(wave), ESPEAK_SAMPLE_RATE, sample_rate
        ).numpy()
    return np.clip(wave, -1.0, 1.0).astype(np.float32)
