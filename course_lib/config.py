"""Course-wide settings: paths, seeding, device choice and fast/full mode.

Every notebook starts with::

    from course_lib import config
    config.seed_everything(0)
    device = config.get_device()
    epochs = config.fast_or_full(fast=2, full=20)
"""
from __future__ import annotations

import numbers
import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

#: The repository root (the folder that holds ``course_lib/``).
ROOT: Path = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """Folder of the generated datasets (git-ignored). ``COURSE_DATA_DIR`` overrides it."""
    return Path(os.environ.get("COURSE_DATA_DIR", ROOT / "data")).expanduser()


def artifacts_dir() -> Path:
    """Folder for checkpoints and benchmark outputs. ``COURSE_ARTIFACTS_DIR`` overrides it."""
    return Path(os.environ.get("COURSE_ARTIFACTS_DIR", ROOT / "artifacts")).expanduser()


def is_fast() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes: small data, few epochs (used by CI)."""
    value = os.environ.get("COURSE_FAST", "0").strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(f"COURSE_FAST must be 1 or 0 (or true/false), got {value!r}")


def mode() -> str:
    """``"fast"`` or ``"full"``."""
    return "fast" if is_fast() else "full"


def fast_or_full(fast: T, full: T) -> T:
    """Pick a setting by mode, e.g. ``epochs = fast_or_full(fast=2, full=30)``."""
    return fast if is_fast() else full


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU).

    ``seed`` is an int (a NumPy integer too) in ``[0, 2**32 - 1]``, the range NumPy accepts.
    With ``deterministic=True`` PyTorch also refuses non-deterministic kernels, which makes
    GPU runs repeatable at some cost in speed; every call sets that mode anew, so a later
    ``seed_everything(seed)`` turns it off again.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32 - 1], got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)


def get_device(preferred: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``preferred`` (or the ``COURSE_DEVICE`` environment variable) forces one,
    e.g. ``"cpu"`` to compare timings; asking for a device that is absent is an error.
    """
    name = preferred or os.environ.get("COURSE_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("MPS was requested but torch.backends.mps.is_available() is False")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
