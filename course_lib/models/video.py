"""Video models: a per-frame CNN with a temporal head, and a small R(2+1)D network.

Clips come out of the datasets as ``(T, C, H, W)`` and batch to ``(B, T, C, H, W)``, frames
first, as ``torchvision.transforms.v2`` and a per-frame CNN want them. 3-D convolutions
(``nn.Conv3d``) want the channels first, ``(B, C, T, H, W)``: :func:`to_channels_first`.

- ``FrameEncoder``: the same 2-D CNN on every frame, ``(B, T, C, H, W)`` -> ``(B, T, D)``.
- ``FrameClassifier``: a ``FrameEncoder``, then mean or max pooling over time (blind to the
  order of the frames) or a temporal convolution (sees the order), then a classifier.
- ``R2Plus1dClassifier``: a small residual network of (2+1)D convolutions (Tran et al. 2018),
  or of full 3-D convolutions, built from torchvision's video ResNet blocks at any width.

Every model takes a dict ``{modality: (B, T, C, H, W)}`` and returns logits ``(B, num_classes)``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple

from course_lib.models.blocks import conv_block
from course_lib.models.checks import check_shape, select_modalities

TEMPORAL_HEADS: tuple[str, ...] = ("mean", "max", "conv")
CONVOLUTIONS: tuple[str, ...] = ("2+1d", "3d")


def to_channels_first(video: Tensor) -> Tensor:
    """``(B, T, C, H, W)`` -> ``(B, C, T, H, W)``, the layout of ``nn.Conv3d`` (a view, no copy)."""
    check_shape(video, "video", ("B", "T", "C", "H", "W"))
    return video.transpose(1, 2)


def mid_channels(in_channels: int, out_channels: int, kernel_size: int = 3) -> int:
    """Width M between the spatial and the temporal convolution of a (2+1)D block.

    ``M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out))`` with ``t = d = kernel_size``
    gives the (2+1)D pair ``N_in -> M`` (1 x d x d) and ``M -> N_out`` (t x 1 x 1) about as
    many weights as one full t x d x d convolution ``N_in -> N_out`` (Tran et al. 2018).
    torchvision's ``BasicBlock(inplanes, planes, ...)`` computes ``M`` once with this rule for
    ``inplanes -> planes`` and uses it for both of its convolutions, so when the two widths differ
    its second convolution (``planes -> planes``) gets a smaller ``M`` than the rule would give it.
    """
    if in_channels < 1 or out_channels < 1 or kernel_size < 1:
        raise ValueError(
            f"channels and kernel_size must be positive, got {in_channels}, {out_channels}, {kernel_size}"
        )
    d2 = kernel_size * kernel_size
    return (kernel_size * d2 * in_channels * out_channels) // (d2 * in_channels + kernel_size * out_channels)


def check_video(video: Tensor, name: str, in_channels: int, min_size: int = 1) -> None:
    """Raise unless ``video`` is ``(B, T, in_channels, H, W)`` with ``H, W >= min_size``."""
    check_shape(video, name, ("B", "T", in_channels, "H", "W"))
    if min(video.shape[-2:]) < min_size:
        raise ValueError(f"{name} frames must be at least {min_size}x{min_size} pixels, got shape {tuple(video.shape)}")


class FrameEncoder(nn.Module):
    """The same small CNN on every frame: ``(B, T, C, H, W)`` -> ``(B, T, out_dim)``.

    The frames are folded into the batch, ``(B * T, C, H, W)``, and go through ``conv_block``s
    (3x3 convolution, batch norm, ReLU, 2x2 max pooling). Adaptive average pooling then keeps
    a ``grid x grid`` map, so the features still say *where* things are in the frame (``grid=1``
    averages position away), and a linear layer maps it to ``out_dim`` numbers per frame.
    Any ``H, W >= 2 ** len(channels)`` works.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_dim: int = 64,
        channels: Sequence[int] = (8, 16, 32),
        grid: int = 4,
        modality: str = "video",
    ) -> None:
        super().__init__()
        if len(channels) == 0:
            raise ValueError("FrameEncoder: channels must list at least one convolution width")
        if grid < 1:
            raise ValueError(f"FrameEncoder: grid must be >= 1, got {grid}")
        self.in_channels, self.out_dim, self.modality = in_channels, out_dim, modality
        self.min_size = 2 ** len(channels)
        widths = [in_channels, *channels]
        self.cnn = nn.Sequential(
            *(conv_block(a, b) for a, b in zip(widths[:-1], widths[1:])),
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(widths[-1] * grid * grid, out_dim),
        )

    def forward(self, video: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, T, out_dim)."""
        check_video(video, f"FrameEncoder: {self.modality}", self.in_channels, self.min_size)
        batch, frames = video.shape[:2]
        features = self.cnn(video.flatten(0, 1))  # (B * T, out_dim)
        return features.unflatten(0, (batch, frames))


class FrameClassifier(nn.Module):
    """Per-frame features, a temporal head, a classifier: ``{modality: (B, T, C, H, W)}`` -> ``(B, num_classes)``.

    ``temporal`` picks how the ``(B, T, D)`` frame features become one clip vector:

    - ``"mean"`` or ``"max"``: pool over time, then an MLP. The result does not change when
      the frames are shuffled or played backwards, so it cannot tell a motion from its reverse.
    - ``"conv"``: two 1-D convolutions over time (3 frames each, batch norm, ReLU) that see
      the order of neighbouring frames, then the mean over time and a linear layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        embed_dim: int = 64,
        channels: Sequence[int] = (8, 16, 32),
        temporal: str = "mean",
        hidden: int = 64,
        modality: str = "video",
    ) -> None:
        super().__init__()
        if temporal not in TEMPORAL_HEADS:
            raise ValueError(f"FrameClassifier: temporal must be one of {TEMPORAL_HEADS}, got {temporal!r}")
        self.modality, self.temporal = modality, temporal
        self.encoder = FrameEncoder(in_channels, embed_dim, channels, modality=modality)
        self.sequence: nn.Module | None = None
        if temporal == "conv":
            self.sequence = nn.Sequential(
                nn.Conv1d(embed_dim, hidden, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Conv1d(hidden, hidden, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
            )
            self.head = nn.Linear(hidden, num_classes)
        else:
            self.head = nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def clip_features(self, video: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, D): one vector per clip, before the classifier."""
        frames = self.encoder(video)  # (B, T, embed_dim)
        if self.temporal == "max":
            return frames.amax(dim=1)
        if self.temporal == "mean":
            return frames.mean(dim=1)
        return self.sequence(frames.transpose(1, 2)).mean(dim=2)  # conv over (B, embed_dim, T)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, T, C, H, W)} -> logits (B, num_classes)."""
        video = select_modalities(inputs, (self.modality,), type(self).__name__)[self.modality]
        return self.head(self.clip_features(video))


class R2Plus1dClassifier(nn.Module):
    """A small video ResNet: ``{modality: (B, T, C, H, W)}`` -> ``(B, num_classes)``.

    torchvision's ``r2plus1d_18`` and ``r3d_18`` fix their widths (64 to 512 channels, 31 to 33
    million parameters) and expect RGB; this model builds the same blocks at any width:

    - stem: a spatial 3x3 convolution with stride 2 (halves H and W), then a temporal
      3-tap convolution (``conv="2+1d"``), or one 3x3x3 convolution (``conv="3d"``);
    - one torchvision ``BasicBlock`` per entry of ``widths``, made of ``Conv2Plus1D`` or
      ``Conv3DSimple`` convolutions; every block after the first halves T, H and W;
    - global average pooling over (T, H, W) and a linear classifier.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        widths: Sequence[int] = (8, 16, 32),
        conv: str = "2+1d",
        modality: str = "video",
    ) -> None:
        super().__init__()
        if conv not in CONVOLUTIONS:
            raise ValueError(f"R2Plus1dClassifier: conv must be one of {CONVOLUTIONS}, got {conv!r}")
        if len(widths) == 0:
            raise ValueError("R2Plus1dClassifier: widths must list at least one block width")
        self.in_channels, self.modality, self.conv = in_channels, modality, conv
        self.min_size = 2 ** len(widths)
        first = widths[0]
        if conv == "2+1d":
            mid = mid_channels(in_channels, first)
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, mid, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
                nn.BatchNorm3d(mid),
                nn.ReLU(inplace=True),
                nn.Conv3d(mid, first, (3, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(first),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, first, 3, stride=(1, 2, 2), padding=1, bias=False),
                nn.BatchNorm3d(first),
                nn.ReLU(inplace=True),
            )
        builder = Conv2Plus1D if conv == "2+1d" else Conv3DSimple
        blocks = []
        for i, width in enumerate(widths):
            inplanes, stride = widths[max(i - 1, 0)], 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != width:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, width, 1, stride=builder.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(width),
                )
            blocks.append(BasicBlock(inplanes, width, builder, stride, downsample))
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(widths[-1], num_classes)

    def clip_features(self, video: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, widths[-1])."""
        check_video(video, f"R2Plus1dClassifier: {self.modality}", self.in_channels, self.min_size)
        x = self.blocks(self.stem(to_channels_first(video)))  # (B, widths[-1], T', H', W')
        return self.pool(x).flatten(1)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, T, C, H, W)} -> logits (B, num_classes)."""
        video = select_modalities(inputs, (self.modality,), type(self).__name__)[self.modality]
        return self.head(self.clip_features(video))

