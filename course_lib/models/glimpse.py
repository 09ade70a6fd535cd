"""A per-frame encoder that follows a moving object: find it, cut a glimpse around it, read the glimpse.

- ``spatial_soft_argmax``: a heatmap -> the mean position under its softmax, and its spread.
- ``glimpse``: crop a square around a centre and resample it (a spatial transformer's sampler).
- ``GlimpseFrameEncoder``: video (B, T, H, W) -> (B, T, out_dim), what the object is and how it
  moves, used by the AV-Digits-Video models of notebook 09.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_lib.models.blocks import conv_block
from course_lib.models.coordinates import coordinate_grid

CONTEXT_FRAMES = 4  # the locator's input channels: previous, current and next frame, and the clip's mean frame


def spatial_soft_argmax(heatmap: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and spread of the position under the softmax of each heatmap.

    (N, H, W) -> centres (N, 2) as (x, y) in (-1, 1), and spread (N,): the root-mean-square
    distance of the softmax's weight from that centre. The spread is small for one sharp
    peak and large when the weight is split between places (the digit and a distractor):
    it says how far to trust the centre.
    """
    n, h, w = heatmap.shape
    weights = heatmap.flatten(1).softmax(dim=-1).view(n, h, w)
    grid = coordinate_grid(h, w, heatmap.device).T.reshape(2, h, w)  # x map, y map
    centres = torch.einsum("nhw,chw->nc", weights, grid)
    squared = (grid[None] - centres[:, :, None, None]).square().sum(dim=1)  # (N, H, W)
    spread = (weights * squared).sum(dim=(1, 2)).clamp(min=1e-8).sqrt()
    return centres, spread


def glimpse(frames: Tensor, centres: Tensor, window: float, size: int) -> Tensor:
    """Crop a square of side ``window`` (a fraction of the frame) around each centre, resampled to size x size.

    frames (N, 1, H, W), centres (N, 2) as (x, y) in (-1, 1) -> (N, 1, size, size), bilinear
    (``F.affine_grid`` + ``F.grid_sample``: the sampling step of a spatial transformer network).
    """
    theta = torch.zeros(len(frames), 2, 3, device=frames.device, dtype=frames.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = window
    theta[:, :, 2] = centres
    grid = F.affine_grid(theta, [len(frames), 1, size, size], align_corners=False)
    return F.grid_sample(frames, grid, align_corners=False)


class GlimpseFrameEncoder(nn.Module):
    """Per-frame encoder that follows the digit: video (B, T, H, W) -> (B, T, out_dim).

    1. *Where*: a small CNN draws a heatmap from the half-resolution frame seen in context
       (:meth:`context`: the frame, its two neighbours and the clip's mean frame); its spatial
       soft-argmax is the digit's centre (x, y) in (-1, 1) in every frame, and the spread of the
       softmax says how sure that centre is (:meth:`locate`).
    2. *What*: a ``glimpse_size`` x ``glimpse_size`` crop of the full-resolution frame around
       that centre (covering ``window`` of the frame's side). The crops of all frames show the
       digit at the same place, so their mean over the clip is a steadier picture of the digit
       (noise, flickering strokes and the drifting distractor average out); a CNN reads it once.
    3. Each frame's vector has two halves: *what* (the digit reading and the crop's mean and
       peak brightness: the digit lights up while it is spoken) and *how it moves* (the centre
       relative to the clip's mean centre, its change since the previous frame and the spread),
       each through its own linear layer and ReLU, so the few numbers of the path are not
       drowned among the reading's many.

    Video is uint8 or float in [0, 1]; batch norm keeps the dim, noisy frames trainable.
    """

    def __init__(self, out_dim: int = 64, channels: Sequence[int] = (32, 64, 96),
                 window: float = 0.6, glimpse_size: int = 20) -> None:
        super().__init__()
        self.out_dim, self.window, self.glimpse_size = out_dim, window, glimpse_size
        self.locator = nn.Sequential(nn.AvgPool2d(2), conv_block(CONTEXT_FRAMES, 8), conv_block(8, 16, pool=False),
                                     conv_block(16, 16, pool=False), nn.Conv2d(16, 1, 1))
        c1, c2, c3 = channels
        self.reader = nn.Sequential(conv_block(1, c1), conv_block(c1, c2), conv_block(c2, c3, pool=False),
                                    nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.what = nn.Sequential(nn.Linear(c3 + 2, out_dim - out_dim // 2), nn.ReLU())
        self.path = nn.Sequential(nn.Linear(5, out_dim // 2), nn.ReLU())

    @staticmethod
    def frames(video: Tensor) -> Tensor:
        """(B, T, H, W) uint8 or float -> (B * T, 1, H, W) float in [0, 1]."""
        if video.dim() != 4:
            raise ValueError(f"GlimpseFrameEncoder: video must have shape (B, T, H, W), got {tuple(video.shape)}")
        frames = video.float() / 255 if video.dtype == torch.uint8 else video
        return frames.reshape(-1, 1, *video.shape[2:])

    @classmethod
    def context(cls, video: Tensor) -> Tensor:
        """What the locator sees of each frame: (B, T, H, W) -> (B * T, CONTEXT_FRAMES, H, W) in [0, 1].

        The channels are the previous frame, the frame, the next frame (the first and last
        frames stand in for their missing neighbours) and the mean of all the clip's frames.
        The digit is in all of them near the same place, while pixel noise and clutter strokes
        change from frame to frame; the mean frame shows the digit's path with a quarter of
        the noise, and a distractor as a fainter, smaller smear.
        """
        frames = cls.frames(video).view(video.shape)  # (B, T, H, W) float
        padded = torch.cat([frames[:, :1], frames, frames[:, -1:]], dim=1)
        mean = frames.mean(dim=1, keepdim=True).expand_as(frames)
        stacked = torch.stack([padded[:, :-2], frames, padded[:, 2:], mean], dim=2)  # (B, T, 4, H, W)
        return stacked.flatten(0, 1)

    def locate(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """The digit's centre in every frame and how sure it is: (B, T, H, W) -> (B, T, 2) as (x, y)
        in (-1, 1), and the heatmap's spread (B, T) (see :func:`spatial_soft_argmax`)."""
        heatmap = self.locator(self.context(video)).squeeze(1)  # (BT, H/4, W/4)
        centres, spread = spatial_soft_argmax(heatmap)
        return centres.view(*video.shape[:2], 2), spread.view(video.shape[:2])

    def glimpses(self, video: Tensor, centres: Tensor) -> Tensor:
        """Crops around the centres: (B, T, H, W), (B, T, 2) -> (B, T, glimpse_size, glimpse_size)."""
        crops = glimpse(self.frames(video), centres.reshape(-1, 2).detach(), self.window, self.glimpse_size)
        return crops.view(*video.shape[:2], self.glimpse_size, self.glimpse_size)

    def forward(self, video: Tensor, located: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(B, T, H, W) (and :meth:`locate`'s output for it, else computed here) -> (B, T, out_dim)."""
        centres, spread = self.locate(video) if located is None else located
        crops = self.glimpses(video, centres)  # (B, T, g, g)
        what = self.reader(crops.mean(dim=1, keepdim=True))  # (B, c3): one reading per clip
        light = torch.stack([crops.mean(dim=(2, 3)), crops.amax(dim=(2, 3))], dim=-1)  # (B, T, 2)
        what = torch.cat([what[:, None].expand(-1, video.shape[1], -1), light], dim=-1)
        relative = centres - centres.mean(dim=1, keepdim=True)  # the motion, wherever the digit is
        velocity = centres - torch.cat([centres[:, :1], centres[:, :-1]], dim=1)  # 0 for the first frame
        path = torch.cat([4 * relative, 16 * velocity, 4 * spread[..., None]], dim=-1)  # all of order 1
        return torch.cat([self.what(what), self.path(path)], dim=-1)
