"""The course's datasets: offline generators, an on-disk cache and a padding collate.

Every dataset lives in its own module, imported only when it is used::

    from course_lib import data
    train = data.get_dataset("av_digits", split="train")   # a torch Dataset of dicts
    arrays = data.load_arrays("av_digits")                  # the cached NumPy arrays

Each dataset module exposes ``NAME``, ``VERSION``, ``default_params(fast)``,
``generate(params, seed)``, ``load_arrays(fast=None, regenerate=False)`` and one
``torch.utils.data.Dataset`` class taking ``split`` (``"train"``, ``"val"``, ``"test"``)
and ``transforms`` (one callable per modality key).
"""
from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
from torch.utils.data import Dataset

from course_lib.data.cache import CacheError, cached_arrays
from course_lib.data.collate import pad_collate

#: Dataset name -> module that makes it (imported on first use).
DATASETS: dict[str, str] = {
    "av_digits": "course_lib.data.av_digits",
    "sort_of_clevr_text": "course_lib.data.sort_of_clevr",
    "av_digits_video": "course_lib.data.av_digits_video",
}

__all__ = [
    "DATASETS",
    "CacheError",
    "cached_arrays",
    "dataset_class",
    "dataset_module",
    "get_dataset",
    "load_arrays",
    "pad_collate",
]


def dataset_module(name: str) -> ModuleType:
    """The module of a registered dataset, imported on first use."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return importlib.import_module(DATASETS[name])


def dataset_class(name: str) -> type[Dataset]:
    """The one ``torch.utils.data.Dataset`` subclass defined in a dataset's module."""
    module = dataset_module(name)
    classes = [
        value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Dataset) and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise RuntimeError(
            f"{module.__name__} must define exactly one Dataset class, found {[c.__name__ for c in classes]}"
        )
    return classes[0]


def get_dataset(name: str, split: str = "train", **kwargs) -> Dataset:
    """One split of a dataset, e.g. ``get_dataset("av_digits", "test", fast=True)``.

    Extra keyword arguments (``fast``, ``transforms``, ...) go to the dataset's class.
    """
    return dataset_class(name)(split=split, **kwargs)


def load_arrays(name: str, fast: bool | None = None, regenerate: bool = False) -> dict[str, np.ndarray]:
    """A dataset's arrays from its cache (generated on first use); ``fast=None`` follows COURSE_FAST."""
    return dataset_module(name).load_arrays(fast=fast, regenerate=regenerate)
