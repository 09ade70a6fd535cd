"""Per-modality encoders: each maps one modality's tensor to an embedding (B, out_dim).

- ``ImageEncoder``: small CNN for images (B, C, H, W), e.g. MNIST digits (B, 1, 28, 28).
- ``AudioEncoder``: small CNN over a log-mel spectrogram (B, n_mels, T); with
  ``waveform_input=True`` it computes the log-mel itself from a waveform (B, n_samples).
- ``MLPEncoder``: multilayer perceptron for feature vectors (B, in_dim).
- ``LogMelSpectrogram`` (from ``course_lib.features.audio``): the audio front end.

Every encoder exposes ``out_dim`` and checks its input, naming its modality in errors.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from course_lib.features.audio import LogMelSpectrogram
from course_lib.models.blocks import conv_block
from course_lib.models.checks import check_shape


class ConvEncoder2d(nn.Module):
    """Stack of ``conv_block``s, global average pooling, then a linear layer.

    (B, in_channels, H, W) -> (B, out_dim) for any H, W >= 2 ** len(channels).
    """

    def __init__(self, in_channels: int, out_dim: int, channels: Sequence[int]) -> None:
        super().__init__()
        if len(channels) == 0:
            raise ValueError("channels must list at least one convolution width")
        widths = [in_channels, *channels]
        self.blocks = nn.Sequential(*(conv_block(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Linear(widths[-1], out_dim)
        self.min_size = 2 ** len(channels)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, out_dim)."""
        return self.proj(self.pool(self.blocks(x)).flatten(1))

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, H, W) -> every block's maps after its ReLU, before its pooling:
        ``[(B, channels[0], H, W), (B, channels[1], H/2, W/2), ...]``."""
        maps = []
        for block in self.blocks:
            x = block[:3](x)  # convolution, batch norm, ReLU
            maps.append(x)
            x = block[3:](x)  # max pooling
        return maps


class ImageEncoder(nn.Module):
    """Small CNN: images (B, in_channels, H, W) -> embeddings (B, out_dim).

    Two conv blocks by default, so a 28x28 digit becomes 7x7 feature maps that are
    averaged and projected. Any H, W >= 2 ** len(channels) works.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_dim: int = 64,
        channels: Sequence[int] = (32, 64),
        modality: str = "image",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_dim = out_dim
        self.modality = modality
        self.cnn = ConvEncoder2d(in_channels, out_dim, channels)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, out_dim)."""
        check_shape(x, f"ImageEncoder: {self.modality}", ("B", self.in_channels, "H", "W"))
        min_size = self.cnn.min_size
        if min(x.shape[-2:]) < min_size:
            raise ValueError(
                f"ImageEncoder: {self.modality} must be at least {min_size}x{min_size} pixels, "
                f"got shape {tuple(x.shape)}"
            )
        return self.cnn(x)

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, H, W) -> the maps of every conv block, for pictures (see ``ConvEncoder2d.feature_maps``)."""
        check_shape(x, f"ImageEncoder: {self.modality}", ("B", self.in_channels, "H", "W"))
        return self.cnn.feature_maps(x)

    def filters(self) -> Tensor:
        """The first convolution's weights, detached: (channels[0], in_channels, 3, 3)."""
        return self.cnn.blocks[0][0].weight.detach()


class AudioEncoder(nn.Module):
    """Small CNN over log-mel spectrograms: (B, n_mels, T) -> (B, out_dim).

    The spectrogram is treated as a one-channel image; adaptive pooling makes any
    T >= 2 ** len(channels) work. With ``waveform_input=True`` the encoder starts with
    a ``LogMelSpectrogram`` front end and takes 16 kHz waveforms (B, n_samples) instead.
    """

    def __init__(
        self,
        n_mels: int = 64,
        out_dim: int = 64,
        channels: Sequence[int] = (16, 32, 64),
        waveform_input: bool = False,
        sample_rate: int = 16_000,
        n_fft: int = 400,
        hop_length: int = 160,
        top_db: float | None = 80.0,
        modality: str = "audio",
    ) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.out_dim = out_dim
        self.modality = modality
        self.waveform_input = waveform_input
        self.frontend = (
            LogMelSpectrogram(sample_rate, n_fft, hop_length, n_mels, top_db)
            if waveform_input
            else nn.Identity()
        )
        self.cnn = ConvEncoder2d(1, out_dim, channels)

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_samples) waveforms if ``waveform_input`` else (B, n_mels, T) -> (B, out_dim)."""
        if self.waveform_input:
            check_shape(x, f"AudioEncoder: {self.modality} waveform", ("B", "n_samples"))
        spec = self.frontend(x)
        check_shape(spec, f"AudioEncoder: {self.modality} spectrogram", ("B", self.n_mels, "T"))
        min_frames = self.cnn.min_size
        if spec.shape[-1] < min_frames:
            raise ValueError(
                f"AudioEncoder: {self.modality} spectrogram needs T >= {min_frames} frames, "
                f"got shape {tuple(spec.shape)}"
            )
        return self.cnn(spec.unsqueeze(1))


class MLPEncoder(nn.Module):
    """Multilayer perceptron: feature vectors (B, in_dim) -> (B, out_dim).

    Each hidden layer is Linear, ReLU and (if ``dropout`` > 0) Dropout; the last
    layer is linear. ``hidden=()`` gives a single linear projection.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 64,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
        modality: str = "features",
    ) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.modality = modality
        layers: list[nn.Module] = []
        width = in_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        check_shape(x, f"MLPEncoder: {self.modality}", ("B", self.in_dim))
        return self.net(x)
