"""Datasets held in memory as tensors: a dict of equally long tensors, batched as dicts.

    loader = tensor_loader({"image": images, "audio": log_mels, "label": labels}, batch_size=64,
                           shuffle=True, seed=0)
    batch = next(iter(loader))   # {"image": (64, ...), "audio": (64, ...), "label": (64,)}

The recipes of ``course_lib.experiments`` compute their features once, keep them as
tensors and train from these loaders: the batches follow the course's dict convention.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class TensorDictDataset(Dataset):
    """Rows of equally long tensors: item ``i`` is ``{key: tensors[key][i]}``."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        if len(tensors) == 0:
            raise ValueError("TensorDictDataset: tensors must hold at least one key")
        lengths = {key: len(value) for key, value in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"TensorDictDataset: every tensor needs the same length, got {lengths}")
        self.tensors = dict(tensors)
        self.length = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}


def tensor_loader(tensors: Mapping[str, Tensor], batch_size: int, shuffle: bool = False,
                  seed: int = 0) -> DataLoader:
    """A DataLoader of dict batches over ``tensors``; shuffled with a generator seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(TensorDictDataset(tensors), batch_size=batch_size, shuffle=shuffle, generator=generator)
