"""Early fusion: put the inputs on one grid, stack them as channels, process them with ONE network.

    model = EarlyFusionModel({"image": 1, "audio": 1},
                             encoder=ImageEncoder(in_channels=2, out_dim=32),
                             head=make_head(32, num_classes=10, hidden=64), size=(28, 28))
    logits = model({"image": (B, 1, 28, 28), "audio": (B, n_mels, T)})    # (B, 10)

Every modality is a 2-D map: an image (B, C, H, W), or a spectrogram (B, F, T), read as one
channel. ``stack`` resizes each map to ``size`` (bilinear, antialiased when it shrinks) and
joins them along the channel axis, (B, sum_m C_m, *size). One encoder reads the stack, so its
first convolution already mixes the modalities: nothing is modality-specific before they meet.
(Intermediate fusion, by contrast, joins the embeddings of one encoder per modality.)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.checks import check_dims, check_shape, select_modalities


class EarlyFusionModel(nn.Module):
    """{modality: 2-D map} -> resize to one grid -> stack as channels -> encoder -> head -> logits.

    ``channels`` gives each modality's number of channels (1 for a spectrogram (B, F, T)); the
    encoder takes ``sum(channels.values())`` input channels (checked when it exposes
    ``in_channels``) and returns (B, D); the head maps (B, D) to logits. Other keys of the
    input dict (labels) are ignored; a missing modality is an error.
    """

    def __init__(self, channels: Mapping[str, int], encoder: nn.Module, head: nn.Module,
                 size: Sequence[int] = (28, 28)) -> None:
        super().__init__()
        self.channels = check_dims(channels, "EarlyFusionModel")
        self.modalities = tuple(self.channels)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"EarlyFusionModel: size must be (height, width) of positive ints, got {size!r}")
        self.size = (int(size[0]), int(size[1]))
        in_channels = getattr(encoder, "in_channels", None)
        total = sum(self.channels.values())
        if in_channels is not None and in_channels != total:
            raise ValueError(f"EarlyFusionModel: the stacked input has {total} channels {self.channels}, "
                             f"but the encoder takes {in_channels}")
        self.encoder = encoder
        self.head = head

    def stack(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, C_m, H_m, W_m), or (B, H_m, W_m) when C_m = 1} -> (B, sum_m C_m, *size)."""
        selected = select_modalities(inputs, self.modalities, "EarlyFusionModel")
        maps: list[Tensor] = []
        for modality, x in selected.items():
            wanted = self.channels[modality]
            if isinstance(x, Tensor) and x.dim() == 3 and wanted == 1:
                x = x.unsqueeze(1)
            check_shape(x, f"EarlyFusionModel: inputs[{modality!r}]", ("B", wanted, "H", "W"))
            if maps and x.shape[0] != maps[0].shape[0]:
                raise ValueError(f"EarlyFusionModel: inputs[{modality!r}] has batch size {x.shape[0]}, "
                                 f"but inputs[{self.modalities[0]!r}] has {maps[0].shape[0]}")
            if tuple(x.shape[-2:]) != self.size:
                shrinks = x.shape[-2] > self.size[0] or x.shape[-1] > self.size[1]
                x = F.interpolate(x.float(), size=self.size, mode="bilinear", align_corners=False,
                                  antialias=shrinks)
            maps.append(x)
        return torch.cat(maps, dim=1)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: map, ...} -> logits (B, num_classes)."""
        return self.head(self.encoder(self.stack(inputs)))
