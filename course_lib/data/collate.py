"""Batch multimodal samples of different lengths: pad along time, keep a mask.

Use it as a DataLoader's ``collate_fn``::

    loader = DataLoader(dataset, batch_size=32, collate_fn=pad_collate)
    batch = next(iter(loader))
    batch["audio"]            # (B, n_max) zero-padded
    batch["audio_mask"]       # (B, n_max) bool, True where a sample is real
    batch["audio_lengths"]    # (B,) int64 true lengths

Padding happens along the LAST axis (time), so ``(channels, time)`` or
``(features, time)`` tensors work too; every other axis must agree within a key.
"""
from __future__ import annotations

from collections.abc import Iterable
from numbers import Number
from typing import Any

import numpy as np
import torch
from torch import Tensor


def _as_tensor(value: Any, key: str) -> Tensor:
    """A tensor, NumPy array or Python number as a tensor, or a clear error."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, (Number, np.generic)):
        return torch.tensor(value)
    raise TypeError(
        f"pad_collate cannot batch key {key!r} of type {type(value).__name__}; "
        "use tensors, arrays, numbers or strings"
    )


def _pad_last_axis(tensors: list[Tensor], key: str) -> tuple[Tensor, Tensor, Tensor]:
    """Zero-pad ``(..., n_i)`` tensors to ``(B, ..., n_max)``; also the mask and the lengths."""
    leading = tensors[0].shape[:-1]
    for index, tensor in enumerate(tensors):
        if tensor.dim() == 0 or tensor.shape[:-1] != leading:
            raise ValueError(
                f"pad_collate pads key {key!r} along its last (time) axis only, so every other "
                f"axis must agree: sample 0 has shape {tuple(tensors[0].shape)}, "
                f"sample {index} has shape {tuple(tensor.shape)}"
            )
    lengths = torch.tensor([tensor.shape[-1] for tensor in tensors], dtype=torch.int64)
    n_max = int(lengths.max())
    padded = tensors[0].new_zeros((len(tensors), *leading, n_max))
    for index, tensor in enumerate(tensors):
        padded[index, ..., : tensor.shape[-1]] = tensor
    mask = torch.arange(n_max) < lengths[:, None]
    return padded, mask, lengths


def pad_collate(batch: list[dict], pad_keys: Iterable[str] = ()) -> dict:
    """Collate a list of sample dicts into one batch dict.

    Per key: strings become a list of strings; tensors, arrays and numbers of equal shape
    are stacked to ``(B, ...)``; tensors whose last axis (time) differs are zero-padded to
    ``(B, ..., n_max)`` and get ``"<key>_mask"`` (bool ``(B, n_max)``, True = real sample)
    and ``"<key>_lengths"`` (int64 ``(B,)``).

    Args:
        batch: samples with the same keys, e.g. ``{"audio": (n_i,), "label": ()}``.
        pad_keys: keys that always get a mask and lengths, even when a batch happens to
            have equal lengths, so that every batch has the same keys.

    Raises:
        ValueError: empty batch, samples with different keys, or shapes that differ on an
            axis other than the last one (the message names the key).
    """
    if not batch:
        raise ValueError("pad_collate got an empty batch")
    keys = list(batch[0].keys())
    for index, sample in enumerate(batch):
        if not isinstance(sample, dict):
            raise TypeError(f"pad_collate expects dict samples, sample {index} is {type(sample).__name__}")
        if list(sample.keys()) != keys:
            raise ValueError(f"sample {index} has keys {list(sample.keys())}, sample 0 has {keys}")
    always_pad = set(pad_keys)
    collated: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in batch]
        if all(isinstance(value, str) for value in values):
            collated[key] = values
            continue
        tensors = [_as_tensor(value, key) for value in values]
        same_shape = all(tensor.shape == tensors[0].shape for tensor in tensors)
        if same_shape and key not in always_pad:
            collated[key] = torch.stack(tensors)
        else:
            collated[key], collated[f"{key}_mask"], collated[f"{key}_lengths"] = _pad_last_axis(tensors, key)
    return collated
