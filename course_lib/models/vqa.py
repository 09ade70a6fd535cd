"""Visual question answering in the course's dict convention: an image, its questions, their answers.

    model = VQAModel(ConvImageEncoder(3), QuestionEncoder(vocab_size), AttentionReasoner(24, num_answers=10),
                     image_keys=["regions"])
    outputs = model({"image": images, "question": questions})   # (B, 3, S, S), (B, Q, L) token ids
    outputs["answer"]                                           # (B, Q, num_answers) logits

Each image is encoded once for all its Q questions; the reasoner (``vqa_reasoners``) sees
the image features repeated for every question. ``model(inputs, return_attention=True)``
also returns what the model looked at, for pictures.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from course_lib.models.checks import check_shape


class VQAModel(nn.Module):
    """Image encoder + question encoder + reasoner; each image is encoded once for all its questions.

    Input ``{"image": (B, 3, S, S) uint8 or float in [0, 1], "question": (B, Q, L) token ids}``
    (or, with ``question_key="question_code"`` and a ``CodedQuestionEncoder``, (B, Q, code_dim) codes).
    The reasoner takes the image encoder's features named by ``image_keys``, each repeated for
    the image's Q questions, and the question vectors (B * Q, question_dim); it returns a dict
    with ``"answer"`` logits (B * Q, num_answers) and possibly more heads.

    Output: ``{"answer": (B, Q, num_answers)}``, plus every other head of the reasoner as
    (B, Q, ...), the image features named by ``image_outputs`` as they are (e.g. the object
    positions, (B, K, 2)), and with ``parse_classes > 0`` a linear head that reads the
    question's colour and kind from its vector: ``"question_parse"`` (B, Q, parse_classes).

    With ``return_attention=True`` the output also holds the reasoner's attention weights
    as (B, Q, ...) (see ``vqa_reasoners``) and, when the image encoder finds object slots,
    ``"slot_masks"`` (B, K + 1, H * W) and ``"slot_positions"`` (B, K, 2).
    """

    def __init__(self, image_encoder: nn.Module, question_encoder: nn.Module, reasoner: nn.Module,
                 image_keys: Sequence[str], image_outputs: Sequence[str] = (), parse_classes: int = 0,
                 question_key: str = "question") -> None:
        super().__init__()
        self.question_key = question_key
        self.image_encoder, self.question_encoder, self.reasoner = image_encoder, question_encoder, reasoner
        self.image_keys, self.image_outputs = tuple(image_keys), tuple(image_outputs)
        self.question_parser = nn.Linear(question_encoder.out_dim, parse_classes) if parse_classes > 0 else None

    def forward(self, inputs: Mapping[str, Tensor], return_attention: bool = False) -> dict[str, Tensor]:
        for key in ("image", self.question_key):
            if key not in inputs:
                raise ValueError(f"VQAModel: missing modality {key!r}; got {list(inputs)}")
        image, question = inputs["image"], inputs[self.question_key]
        check_shape(image, "VQAModel: inputs['image']", ("B", 3, "H", "W"))
        check_shape(question, f"VQAModel: inputs[{self.question_key!r}]", (image.shape[0], "Q", "L"))
        if image.dtype == torch.uint8:
            image = image.float() / 255
        b, q, _ = question.shape
        features = self.image_encoder(image)
        repeated = {key: features[key].repeat_interleave(q, dim=0) for key in self.image_keys}
        vectors = self.question_encoder(question.flatten(0, 1))
        reasoned = self.reasoner(repeated, vectors, return_attention=return_attention)
        outputs = {key: value.view(b, q, *value.shape[1:]) for key, value in reasoned.items()}
        outputs.update({key: features[key] for key in self.image_outputs})
        if self.question_parser is not None:
            outputs["question_parse"] = self.question_parser(vectors).view(b, q, -1)
        if return_attention:
            outputs.update({f"slot_{key}": features[key] for key in ("masks", "positions") if "masks" in features})
        return outputs
