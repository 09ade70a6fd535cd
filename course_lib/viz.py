"""Plotting helpers shared by the notebooks: training curves, confusion matrices, image grids."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_history(history: dict[str, list[float]], keys: Sequence[str] | None = None,
                 title: str | None = None) -> Figure:
    """Training curves: one panel for the losses, one for every other metric.

    ``history`` maps names such as ``"train_loss"``, ``"val_loss"``, ``"val_score"``
    to one value per epoch (the ``history`` of :func:`course_lib.train.fit`).
    """
    keys = list(keys) if keys is not None else list(history)
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}")
    loss_keys = [k for k in keys if k.endswith("loss")]
    other_keys = [k for k in keys if not k.endswith("loss")]
    groups = [g for g in (loss_keys, other_keys) if g]
    if not groups:
        raise ValueError("keys is empty: nothing to plot")
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for key in group:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if group is loss_keys else "score")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: torch.Tensor | np.ndarray, class_names: Sequence[str] | None = None,
                          normalize: bool = True, ax: Axes | None = None,
                          title: str | None = None) -> Axes:
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    With ``normalize=True`` each row is divided by its total, so the diagonal is per-class recall.
    """
    cm = np.asarray(cm.cpu() if isinstance(cm, torch.Tensor) else cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {cm.shape}")
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"class_names has {len(names)} names for a {n}x{n} matrix")
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * n + 2, 0.45 * n + 1.6))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 12:
        for i in range(n):
            for j in range(n):
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > 0.5 * cm.max() else "black")
    if title:
        ax.set_title(title)
    return ax


def show_images(images: torch.Tensor | np.ndarray | Sequence, titles: Sequence[str] | None = None,
                ncols: int = 8, scale: float = 1.4) -> Figure:
    """A grid of images.

    images: (N, H, W), (N, 1, H, W) or (N, 3, H, W) tensors/arrays (channels first, as in
    PyTorch), or (N, H, W, 3) arrays; values in [0, 1] or uint8.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images must be (N, H, W), (N, C, H, W) or (N, H, W, 3) with C in (1, 3), "
                         f"got shape {images.shape}")
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + 0.2 * (titles is not None)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray" if images[i].ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig
