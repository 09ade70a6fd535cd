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

from course_lib.models.checks import check_shape, select_modalities
from course_lib.models.modality_dropout import drop_modalities
from course_lib.models.blocks import mlp
from course_lib.models.temporal_fusion import LateTemporalFusion
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


class MultimodalAutoencoder(nn.Module):
    """Both modalities -> one shared code -> both modalities again, learned without labels.

    ``{"video": (B, T, H, W), "audio": (B, n_mels, S)}`` -> ``{"code": (B, code_dim),
    "video": (B, *video_shape), "audio": (B, *audio_shape)}``. ``encoders`` are sequence
    encoders (``SequenceEncoder``: input -> (B, T_m, D)); their sequences are averaged over
    time (late pooled fusion) and squeezed into the code; one linear decoder per modality
    rebuilds its target (e.g. the frames at half resolution) from the code. Trained with
    modality dropout, the code of a clip with one modality zeroed must still rebuild both,
    so it learns what they share.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], video_shape: Sequence[int], audio_shape: Sequence[int],
                 code_dim: int = 32, modality_dropout: float = 0.2) -> None:
        super().__init__()
        self.modalities = ("video", "audio")
        self.encoders = nn.ModuleDict({m: encoders[m] for m in self.modalities})
        self.fusion = LateTemporalFusion({m: encoders[m].out_dim for m in self.modalities})
        self.to_code = nn.Linear(self.fusion.out_dim, code_dim)
        self.video_shape, self.audio_shape = tuple(video_shape), tuple(audio_shape)
        self.decoders = nn.ModuleDict({"video": nn.Linear(code_dim, math.prod(self.video_shape)),
                                       "audio": nn.Linear(code_dim, math.prod(self.audio_shape))})
        self.modality_dropout = modality_dropout

    def encode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: input} -> code (B, code_dim)."""
        inputs = select_modalities(inputs, self.modalities, "MultimodalAutoencoder")
        if self.training and self.modality_dropout > 0:
            inputs = drop_modalities(inputs, self.modality_dropout)
        return self.to_code(self.fusion({m: self.encoders[m](x) for m, x in inputs.items()}))

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        code = self.encode(inputs)
        video = self.decoders["video"](code).view(-1, *self.video_shape)
        return {"code": code, "video": video, "audio": self.decoders["audio"](code).view(-1, *self.audio_shape)}
