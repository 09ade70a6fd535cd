"""Multimodal autoencoders: two modalities -> one joint code -> both modalities again, without labels.

- ``VQAAutoencoder``: an image and a question (Sort-of-CLEVR-Text, notebook 06).
- ``MultimodalAutoencoder``: a video and its audio (AV-Digits-Video, notebook 09).

A linear probe on the code then shows what the code kept of each task (see the recipes in
``course_lib.experiments``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from course_lib.models.blocks import mlp
from course_lib.models.checks import check_shape, select_modalities
from course_lib.models.modality_dropout import drop_modalities
from course_lib.models.vqa_encoders import QUESTION_DIM, ConvImageEncoder, QuestionEncoder


class VQAAutoencoder(nn.Module):
    """(image, question) -> one joint code -> a small image and the question's words again.

    The encoders are those of the CNN + MLP model (the paper's 4-layer CNN, 24 channels, and
    the mean-embedding question encoder); an MLP squeezes both into a joint code of
    ``code_dim`` numbers; two decoders rebuild an ``image_size`` x ``image_size`` version of the
    75 x 75 image and the set of words of the question from that code alone. No answers are used.
    Input ``{"image": (B, 3, 75, 75), "question": (B, Q, L)}``; output ``{"code": (B, Q, code_dim),
    "small_image": (B, Q, 3, image_size, image_size) in [0, 1], "words": (B, Q, V) logits}``.
    """

    def __init__(self, vocab_size: int, code_dim: int = 32, image_size: int = 25) -> None:
        super().__init__()
        self.image_size = image_size
        self.image_encoder = ConvImageEncoder(4)
        self.question_encoder = QuestionEncoder(vocab_size)
        self.encode = mlp(24 * 5 * 5 + QUESTION_DIM, 256, code_dim)
        self.decode_image = nn.Sequential(nn.Linear(code_dim, 256), nn.ReLU(), nn.Linear(256, 3 * image_size ** 2),
                                          nn.Sigmoid(), nn.Unflatten(-1, (3, image_size, image_size)))
        self.decode_words = nn.Linear(code_dim, vocab_size)

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        image, question = inputs["image"], inputs["question"]
        check_shape(question, "VQAAutoencoder: inputs['question']", (image.shape[0], "Q", "L"))
        if image.dtype == torch.uint8:
            image = image.float() / 255
        b, q, _ = question.shape
        maps = self.image_encoder(image)["maps"].flatten(1).repeat_interleave(q, dim=0)
        code = self.encode(torch.cat([maps, self.question_encoder(question.flatten(0, 1))], dim=1))
        size = self.image_size
        return {"code": code.view(b, q, -1), "small_image": self.decode_image(code).view(b, q, 3, size, size),
                "words": self.decode_words(code).view(b, q, -1)}


def conv_decoder(code_dim: int, out_shape: Sequence[int], width: int = 64) -> nn.Sequential:
    """code (B, code_dim) -> (B, *out_shape) by transposed convolutions that double the size at each step.

    ``out_shape = (C, L)``: a sequence (e.g. log-mel (n_mels, S)), three 1-D steps from L / 8 up to L.
    ``out_shape = (C, H, W)``: an image with C channels (e.g. T frames), two 2-D steps from H / 4 up to H.
    """
    channels, *size = out_shape
    steps = 3 if len(size) == 1 else 2
    if len(size) not in (1, 2) or any(n % 2**steps for n in size):
        raise ValueError(f"conv_decoder: out_shape must be (C, L) with L % 8 == 0 or (C, H, W) with H, W % 4 == 0, "
                         f"got {tuple(out_shape)}")
    start = [n // 2**steps for n in size]
    up = nn.ConvTranspose1d if len(size) == 1 else nn.ConvTranspose2d
    layers: list[nn.Module] = [nn.Linear(code_dim, width * math.prod(start)), nn.Unflatten(1, (width, *start))]
    for i in range(steps):
        layers += [nn.ReLU(), up(width, channels if i == steps - 1 else width, kernel_size=4, stride=2, padding=1)]
    return nn.Sequential(*layers)


class MultimodalAutoencoder(nn.Module):
    """Both modalities -> one shared code -> both modalities again, learned without labels.

    ``{"video": (B, T, H, W), "audio": (B, n_mels, S)}`` -> ``{"code": (B, code_dim),
    "video": (B, *video_shape), "audio": (B, *audio_shape)}``. ``encoders`` are sequence
    encoders (``SequenceEncoder``: input -> (B, T_m, D)); each sequence is averaged over
    ``time_windows`` equal stretches of the clip (a mean over the whole clip would forget when
    the word is heard, which the audio decoder needs) and the summaries are squeezed into the
    code by one linear layer. One convolutional decoder per
    modality (:func:`conv_decoder`, the video's frames as channels) rebuilds what its target
    differs from ``mean_targets[m]``, the mean target clip of the training set: a code of zeros
    gives that mean clip, the baseline the reconstruction is measured against. Trained with
    modality dropout, the code of a clip with one modality zeroed must still rebuild both,
    so it learns what they share.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], mean_targets: Mapping[str, Tensor], code_dim: int = 32,
                 modality_dropout: float = 0.2, time_windows: int = 4) -> None:
        super().__init__()
        self.modalities = ("video", "audio")
        self.encoders = nn.ModuleDict({m: encoders[m] for m in self.modalities})
        self.pool = nn.AdaptiveAvgPool1d(time_windows)
        self.to_code = nn.Linear(time_windows * sum(encoders[m].out_dim for m in self.modalities), code_dim)
        self.decoders = nn.ModuleDict({m: conv_decoder(code_dim, mean_targets[m].shape) for m in self.modalities})
        for m in self.modalities:
            self.register_buffer(f"{m}_mean", mean_targets[m].float().clone())
        self.modality_dropout = modality_dropout

    def encode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: input} -> code (B, code_dim)."""
        inputs = select_modalities(inputs, self.modalities, "MultimodalAutoencoder")
        if self.training and self.modality_dropout > 0:
            inputs, _ = drop_modalities(inputs, self.modality_dropout)  # both targets stay: rebuild the lost one
        windows = [self.pool(self.encoders[m](inputs[m]).transpose(1, 2)).flatten(1) for m in self.modalities]
        return self.to_code(torch.cat(windows, dim=1))  # (B, D_m, windows) flattened per modality

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        code = self.encode(inputs)
        return {"code": code, **{m: getattr(self, f"{m}_mean") + self.decoders[m](code) for m in self.modalities}}
