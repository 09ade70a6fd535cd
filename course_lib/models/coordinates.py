"""Pixel-centre coordinates in [-1, 1], the frame that lets a network use *where* a pixel is."""
from __future__ import annotations

import torch
from torch import Tensor


def coordinate_grid(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Pixel-centre coordinates (H * W, 2) as (x, y), row by row; x grows to the right, y downwards.

    Pixel ``i`` of ``n`` sits at ``(2 i + 1) / n - 1``, the convention of ``F.grid_sample`` and
    ``F.affine_grid`` with ``align_corners=False``, so maps of any resolution share one frame.
    ``coordinate_grid(h, w).T.reshape(2, h, w)`` gives the same as an x map and a y map.
    """
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)
