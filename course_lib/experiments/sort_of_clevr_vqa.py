"""Visual question answering on Sort-of-CLEVR-Text: the code of notebook 06 and its benchmark.

    data = load_data()                                  # every split as tensors, made once
    result = train_method("relational", data, seed=0)
    result.row   # {"method": "relational", "accuracy": ..., "relational": ..., "non-relational": ...,
                 #  "closest": ..., "macro_recall": ..., "macro_f1": ..., "parameters": ..., "seconds": ...}

A batch holds whole images with all their questions: ``image`` (B, 3, 75, 75) uint8,
``question`` (B, Q, L) token ids (0 = padding), ``label`` (B, Q). Every model encodes an
image once and answers its Q = 20 questions from that one encoding, and every model but
the first reads the questions as sentences with the same small text encoder learned from
scratch over the course vocabulary (the mean of word embeddings by default, or a GRU). Only
the way the image and the question meet changes:

- ``cnn_mlp_coded``: the Relation Networks paper's baseline, with its binary-coded questions
  (``question_code``: the colour, the kind of question, the side a yes/no question names).
- ``cnn_mlp``: a CNN (after the Relation Networks paper) flattened, concatenated with the
  question, and an MLP: late fusion.
- ``attention``: the question attends over the CNN's regions (10 x 10 cells with their
  coordinates): cross-modal attention.
- ``film``: the question scales and shifts the CNN's channels (FiLM) in two residual blocks.
- ``relational``: object slots from pixels, two attention hops (the second one biased by
  the distance to the first one's object) and a relation module, trained on the answers and
  on auxiliary tasks (multitask learning): where every object is and its shape, which
  object the question names, which objects are nearest to and farthest from it, and the
  question's colour and kind.
- ``relational_no_hop2_target``: the same, without the nearest / farthest task (an ablation).
- ``relational_answers_only``: the same model trained on the answers alone.
- ``colour_slots``: answers alone, with slots that group the pixels by their exact colour
  (no parameters) and a head that reads hop 1's position along directions the question
  chooses; ``colour_slots_no_readout`` is the same without that readout (an ablation).

``TRAINING_SIGNAL`` says what each method learns from. ``train_method(..., cache=True)``
keeps the trained weights under ``artifacts/vqa_weights/`` and loads them on the next call
with the same settings, unless ``retrain=True``.

Every model returns a dict: ``"answer"`` (B, Q, num_answers) logits, and for the multitask
models the outputs of their auxiliary heads; ``vqa_loss`` adds the loss of every head present.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from course_lib import config
from course_lib.data import sort_of_clevr as soc
from course_lib.data.tensors import tensor_loader
from course_lib.data.text import Vocabulary, pad_sequences, tokenize
from course_lib.experiments.common import MethodResult, cached_method, group_accuracy
from course_lib.metrics import accuracy, classification_report
from course_lib.models.autoencoders import VQAAutoencoder
from course_lib.models.vqa import VQAModel
from course_lib.models.vqa_encoders import CodedQuestionEncoder, ConvImageEncoder, QuestionEncoder, SlotImageEncoder
from course_lib.models.vqa_reasoners import AttentionReasoner, CNNMLPReasoner, FiLMReasoner, ObjectReasoner
from course_lib.train import FitResult, fit, predict, run_summary

#: Method key -> the name shown in tables.
METHODS: dict[str, str] = {
    "cnn_mlp_coded": "CNN + MLP, coded questions",
    "cnn_mlp": "CNN + MLP (late fusion)",
    "attention": "cross-modal attention",
    "film": "FiLM",
    "relational_answers_only": "object slots + distance attention + RN, answers only",
    "colour_slots_no_readout": "colour slots + distance attention + RN, answers only, no position readout",
    "colour_slots": "colour slots + distance attention + RN + position readout, answers only",
    "relational_no_hop2_target": "object slots + distance attention + RN, multitask without hop 2's target",
    "relational": "object slots + distance attention + RN, multitask",
}
#: What each method learns from besides the images and questions: "answers" alone, or answers and
#: annotations that the generator records (scene: every object's centre and shape; question: the
#: colour it names, its kind and the object it names; hop 2's target: the objects nearest to and
#: farthest from the named one).
TRAINING_SIGNAL: dict[str, str] = {
    **dict.fromkeys(("cnn_mlp_coded", "cnn_mlp", "attention", "film", "relational_answers_only",
                     "colour_slots_no_readout", "colour_slots"), "answers"),
    "relational_no_hop2_target": "answers + scene + question annotations",
    "relational": "answers + scene + question annotations + hop 2's target",
}
NUM_ANSWERS = len(soc.ANSWERS)
NUM_COLORS = len(soc.COLORS)
#: Size of a coded question: colour one-hot, subtype one-hot, and the side a yes/no question names.
CODE_DIM = NUM_COLORS + len(soc.SUBTYPES) + 1
#: Full-mode training budget per method: (most) epochs and peak learning rate (AdamW, warm-up then cosine decay).
EPOCHS = {"cnn_mlp_coded": 20, "cnn_mlp": 20, "attention": 12, "film": 8, "relational": 12,
          "relational_no_hop2_target": 12, "relational_answers_only": 12, "colour_slots": 10,
          "colour_slots_no_readout": 10}
#: The baselines stop after this many epochs without a better validation accuracy (early stopping);
#: the other methods train for their whole budget.
PATIENCE = {"cnn_mlp_coded": 3, "cnn_mlp": 3, "attention": 3, "film": 2}
#: Learning rates of the baselines: the best on the validation split among ``LR_CANDIDATES`` after
#: ``LR_SEARCH_EPOCHS`` epochs of seed 0 (``benchmarks/vqa_sort_of_clevr.py`` runs that search).
LEARNING_RATES = {"cnn_mlp_coded": 2e-3, "cnn_mlp": 1e-3, "attention": 1e-3, "film": 2e-3, "relational": 1e-2,
                  "relational_no_hop2_target": 1e-2, "relational_answers_only": 1e-2, "colour_slots": 3e-3,
                  "colour_slots_no_readout": 3e-3}
LR_CANDIDATES = (1e-3, 2e-3, 4e-3)
LR_SEARCH_EPOCHS = {"cnn_mlp_coded": 3, "cnn_mlp": 3, "attention": 2, "film": 2}
#: The reasoner's outputs that each relational method returns: ``vqa_loss`` trains every output present.
RELATIONAL_OUTPUTS = {"relational": ("answer", "named_object", "related_object"),
                      "relational_no_hop2_target": ("answer", "named_object"), "relational_answers_only": ("answer",),
                      "colour_slots": ("answer",), "colour_slots_no_readout": ("answer",)}
POSITION_READOUT = 16  # directions along which the colour-slot model's question reads hop 1's position
BATCH_IMAGES = 32  # images per batch, each with all its questions
#: The targets of a batch: the answers and the annotations that the auxiliary tasks learn from.
TARGETS = ("label", "object_position", "object_shape", "object_present", "question_color", "subtype")
POSITION_WEIGHT = 10.0  # weight of the object-position loss (squared error in [-1, 1] units) in the multitask loss


# ----------------------------------------------------------------------------- data


@dataclass
class VQAData:
    """Sort-of-CLEVR-Text as tensors, per split, with ``N`` images of ``Q`` questions and ``C`` colours:

    ``image`` (N, 3, S, S) uint8, ``question`` (N, Q, L) int64 token ids, ``label``, ``qtype``,
    ``subtype``, ``question_color`` (N, Q) int64; ``question_code`` (N, Q, CODE_DIM) float, the
    binary-coded question (``question_codes``); ``object_position`` (N, C, 2) the centre (x, y)
    in [-1, 1] of the object of each palette colour, ``object_shape`` (N, C) its shape (index
    into ``SHAPES``), ``object_present`` (N, C) bool. Also the
    vocabulary of the training questions.
    """

    splits: dict[str, dict[str, Tensor]]
    vocab: Vocabulary
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def fingerprint(self) -> str:
        """A short hash of every split's images, questions and answers: two datasets with the same one hold
        the same examples (computed once, in about a second for the full data)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for split in sorted(self.splits):
                for key in ("image", "question", "label"):
                    digest.update(self.splits[split][key].numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def loader(self, split: str, batch_size: int = BATCH_IMAGES, shuffle: bool = False, seed: int = 0,
               keys: Sequence[str] = ("image", "question", "question_code", *TARGETS)) -> DataLoader:
        """A DataLoader of dict batches of whole images (each with its Q questions) over ``keys``."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        return tensor_loader({key: self.splits[split][key] for key in keys}, batch_size, shuffle, seed)


def question_codes(arrays: Mapping[str, np.ndarray]) -> Tensor:
    """The questions as the Relation Networks paper codes them: (M, CODE_DIM) float32 for M questions.

    Per question: a one-hot of the colour it names, a one-hot of its subtype, and 1 where a
    yes/no question names the second half (right, bottom or lower), else 0.
    """
    second_half = {words[1] for pairs in soc.SIDE_WORDS.values() for words in pairs}  # right, bottom, lower
    side = torch.tensor([not second_half.isdisjoint(tokenize(text)) for text in arrays["question_text"].tolist()])
    side &= torch.from_numpy(np.isin(arrays["subtype"], [soc.SUBTYPES.index("horizontal"),
                                                         soc.SUBTYPES.index("vertical")]))
    return torch.cat([nn.functional.one_hot(torch.from_numpy(arrays["question_color"]), NUM_COLORS),
                      nn.functional.one_hot(torch.from_numpy(arrays["subtype"]), len(soc.SUBTYPES)),
                      side[:, None]], dim=1).float()


def object_targets(arrays: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
    """Per image and palette colour: ``object_position`` (N, C, 2), the object's centre (x, y) in [-1, 1];
    ``object_shape`` (N, C) int64; ``object_present`` (N, C) bool (position and shape are 0 where it is False)."""
    n, k = arrays["object_color"].shape
    size = arrays["images"].shape[1]
    centres = np.stack([arrays["object_x"], arrays["object_y"]], axis=-1)  # (N, K, 2) pixel column and row
    position = np.zeros((n, len(arrays["color_names"]), 2), dtype=np.float32)
    shape = np.zeros((n, len(arrays["color_names"])), dtype=np.int64)
    present = np.zeros((n, len(arrays["color_names"])), dtype=bool)
    rows, colors = np.repeat(np.arange(n), k), arrays["object_color"].ravel()
    position[rows, colors] = (centres.reshape(-1, 2) + 0.5) / size * 2 - 1
    shape[rows, colors] = arrays["object_shape"].ravel()
    present[rows, colors] = True
    return {"object_position": torch.from_numpy(position), "object_shape": torch.from_numpy(shape),
            "object_present": torch.from_numpy(present)}


def load_data(fast: bool | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> VQAData:
    """Load Sort-of-CLEVR-Text (generated on first use) and turn it into tensors once.

    The sentences are tokenized with the vocabulary of the training questions and padded
    to the longest question. ``fast=None`` follows ``COURSE_FAST``; ``arrays`` (from
    ``sort_of_clevr.generate``) replaces the cached dataset.
    """
    arrays = soc.load_arrays(fast=fast) if arrays is None else arrays
    num_images = len(arrays["images"])
    per_image = len(arrays["question_image"]) // num_images
    if not np.array_equal(arrays["question_image"], np.repeat(np.arange(num_images), per_image)):
        raise ValueError("load_data expects every image's questions to be consecutive, the same number per image")
    train_images = arrays["image_split"] == soc.SPLITS.index("train")
    vocab = Vocabulary.build(arrays["question_text"][np.repeat(train_images, per_image)].tolist())
    distinct: dict[str, int] = {}  # encode each distinct sentence once
    rows = torch.tensor([distinct.setdefault(text, len(distinct)) for text in arrays["question_text"].tolist()])
    ids, _ = pad_sequences([vocab.encode(text) for text in distinct], pad_id=vocab.pad_id)
    per_image_tensors = {
        "image": torch.from_numpy(np.ascontiguousarray(arrays["images"].transpose(0, 3, 1, 2))),
        "question": ids[rows].view(num_images, per_image, -1),
        "question_code": question_codes(arrays).view(num_images, per_image, CODE_DIM),
        **{key: torch.from_numpy(arrays[source]).view(num_images, per_image)
           for key, source in (("label", "answer"), ("qtype", "qtype"), ("subtype", "subtype"),
                               ("question_color", "question_color"))},
    }
    per_image_tensors.update(object_targets(arrays))
    splits = {}
    for index, split in enumerate(soc.SPLITS):
        rows = torch.from_numpy(np.flatnonzero(arrays["image_split"] == index))
        splits[split] = {key: value[rows] for key, value in per_image_tensors.items()}
    return VQAData(splits, vocab)


# ----------------------------------------------------------------------------- models


def build_model(method: str, vocab_size: int, question_encoder: str = "mean") -> VQAModel:
    """The model of one method (a key of ``METHODS``) for a vocabulary of ``vocab_size`` tokens.

    ``question_encoder``: ``"mean"`` (bag of embeddings) or ``"gru"``, see ``QuestionEncoder``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method == "cnn_mlp_coded":
        return VQAModel(ConvImageEncoder(4), CodedQuestionEncoder(CODE_DIM),
                        CNNMLPReasoner(24 * 5 * 5, NUM_ANSWERS, question_dim=CODE_DIM), ["maps"],
                        question_key="question_code")
    question_encoder = QuestionEncoder(vocab_size, kind=question_encoder)
    if method == "cnn_mlp":
        return VQAModel(ConvImageEncoder(4), question_encoder, CNNMLPReasoner(24 * 5 * 5, NUM_ANSWERS), ["maps"])
    if method == "attention":
        return VQAModel(ConvImageEncoder(3), question_encoder, AttentionReasoner(24, NUM_ANSWERS), ["regions"])
    if method == "film":
        return VQAModel(ConvImageEncoder(3), question_encoder, FiLMReasoner(24, NUM_ANSWERS), ["maps"])
    outputs = RELATIONAL_OUTPUTS[method]
    if method.startswith("colour_slots"):
        readout = POSITION_READOUT if method == "colour_slots" else 0
        return VQAModel(SlotImageEncoder(NUM_COLORS, grouping="colour"), question_encoder,
                        ObjectReasoner(NUM_ANSWERS, outputs=outputs, position_readout=readout), ["objects", "positions"])
    multitask = "named_object" in outputs
    return VQAModel(SlotImageEncoder(NUM_COLORS, num_shapes=len(soc.SHAPES)), question_encoder,
                    ObjectReasoner(NUM_ANSWERS, outputs=outputs), ["objects", "positions"],
                    image_outputs=["positions", "object_shape"] if multitask else [],
                    parse_classes=NUM_COLORS + len(soc.SUBTYPES) if multitask else 0)


# ----------------------------------------------------------------------------- training


def related_object_targets(positions: Tensor, present: Tensor, named: Tensor) -> tuple[Tensor, Tensor]:
    """The palette colours of the objects nearest to and farthest from each question's named object.

    positions (B, C, 2) object centres, present (B, C) bool, named (B, Q) colour index of the
    object each question names, which must be present, with at least one other object ->
    ``(targets, candidates)``: (B, Q, 2) int64 [nearest, farthest] among the other present
    objects, and (B, Q, C) bool, those other present objects.
    """
    if not present.gather(1, named).all():
        raise ValueError("related_object_targets: a question names a colour that is not in its scene")
    candidates = present[:, None, :] & (torch.arange(positions.shape[1], device=named.device) != named[..., None])
    if not candidates.any(dim=-1).all():
        raise ValueError("related_object_targets: a scene needs at least two objects")
    anchor = positions.gather(1, named[..., None].expand(-1, -1, 2))  # (B, Q, 2): the named object's centre
    distance = (positions[:, None] - anchor[:, :, None]).norm(dim=-1)  # (B, Q, C)
    nearest = distance.masked_fill(~candidates, float("inf")).argmin(dim=-1)
    farthest = distance.masked_fill(~candidates, float("-inf")).argmax(dim=-1)
    return torch.stack([nearest, farthest], dim=-1), candidates


def vqa_loss(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Cross-entropy of the answers, plus the loss of every auxiliary head the model has.

    - ``"answer"`` (B, Q, A) against ``targets["label"]`` (B, Q): cross-entropy.
    - ``"positions"`` (B, C, 2), slot ``c`` against the centre of the object of palette colour
      ``c``, ``targets["object_position"]``, where ``targets["object_present"]``: squared error
      times ``POSITION_WEIGHT``.
    - ``"object_shape"`` (B, C, 2) shape logits against ``targets["object_shape"]`` where present: cross-entropy.
    - ``"named_object"`` (B, Q, C) hop-1 scores against ``targets["question_color"]`` (B, Q): cross-entropy.
    - ``"related_object"`` (B, Q, 2, C) hop-2 scores of the near and far heads against the
      objects nearest to and farthest from the named one (``related_object_targets``), the
      named object and absent ones left out: cross-entropy.
    - ``"question_parse"`` (B, Q, C + 6) against the question's colour and subtype: two cross-entropies.
    """
    loss = nn.functional.cross_entropy(outputs["answer"].flatten(0, 1), targets["label"].flatten())
    if "positions" in outputs:
        error = (outputs["positions"] - targets["object_position"]).square().sum(dim=-1)
        loss = loss + POSITION_WEIGHT * error[targets["object_present"]].mean()
    if "object_shape" in outputs:
        present = targets["object_present"]
        loss = loss + nn.functional.cross_entropy(outputs["object_shape"][present], targets["object_shape"][present])
    if "named_object" in outputs:
        loss = loss + nn.functional.cross_entropy(outputs["named_object"].flatten(0, 1),
                                                  targets["question_color"].flatten())
    if "related_object" in outputs:
        wanted, candidates = related_object_targets(targets["object_position"], targets["object_present"],
                                                    targets["question_color"])
        scores = outputs["related_object"].masked_fill(~candidates[:, :, None], -1e4)  # the named and absent objects
        loss = loss + nn.functional.cross_entropy(scores.flatten(0, 2), wanted.flatten())
    if "question_parse" in outputs:
        parse = outputs["question_parse"].flatten(0, 1)
        loss = loss + nn.functional.cross_entropy(parse[:, :NUM_COLORS], targets["question_color"].flatten())
        loss = loss + nn.functional.cross_entropy(parse[:, NUM_COLORS:], targets["subtype"].flatten())
    return loss


def vqa_accuracy(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> float:
    """Accuracy of the answers over every question: ``outputs["answer"]`` (B, Q, A), ``targets["label"]`` (B, Q)."""
    return accuracy(outputs["answer"].flatten(0, 1), targets["label"].flatten())


def warmup_cosine(optimizer: torch.optim.Optimizer, epochs: int, warmup: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule: the learning rate rises linearly for ``warmup`` epochs, then follows a cosine to 0."""
    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max(1, epochs - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def split_scores(model: nn.Module, data: VQAData, split: str = "test", device: torch.device | None = None) -> dict:
    """Accuracy overall, per question type and per subtype, and macro recall and F1 over the answers."""
    outputs, targets = predict(model, data.loader(split, batch_size=100), device, target_key=TARGETS)
    predicted, labels = outputs["answer"].argmax(dim=-1).flatten(), targets["label"].flatten()
    qtype, subtype = data.splits[split]["qtype"].flatten(), targets["subtype"].flatten()
    report = classification_report(predicted, labels, NUM_ANSWERS)
    scores = {"accuracy": report["accuracy"], "macro_recall": report["macro_recall"], "macro_f1": report["macro_f1"]}
    correct = predicted == labels
    return {**scores, **group_accuracy(correct, qtype, soc.QTYPES), **group_accuracy(correct, subtype, soc.SUBTYPES)}


def train_method(method: str, data: VQAData, seed: int = 0, *, epochs: int | None = None, lr: float | None = None,
                 patience: int | None = None, batch_size: int = BATCH_IMAGES, device: torch.device | None = None,
                 progress: bool = False, pretrained: VQAAutoencoder | None = None, cache: bool = False,
                 retrain: bool = False) -> MethodResult:
    """Build and train one method; return the model, its history and its table row.

    AdamW with a one-epoch warm-up and a cosine decay over ``epochs`` on ``vqa_loss``
    (``EPOCHS``, ``LEARNING_RATES`` and ``PATIENCE`` by default): training stops early after
    ``patience`` epochs without a better validation accuracy (0: never), and the weights of the best
    epoch are kept and scored on the test split. ``seconds`` is the training time (``fit``,
    validation included); ``TRAINING_SIGNAL`` goes into the row as ``"signal"``.

    ``pretrained``: a trained ``VQAAutoencoder`` whose image and question encoders give the
    starting weights (``cnn_mlp`` only, whose encoders have the same shapes).

    ``cache=True`` keeps the trained weights, history and row under ``artifacts/vqa_weights/``
    and, on a later call with the same method, seed, settings and data, loads them instead of
    training (``retrain=True`` trains again and replaces them). Runs from ``pretrained``
    encoders are never cached.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    device = device or config.get_device()
    epochs = EPOCHS[method] if epochs is None else epochs
    lr = LEARNING_RATES[method] if lr is None else lr
    patience = PATIENCE.get(method) if patience is None else patience or None
    if pretrained is not None and method != "cnn_mlp":
        raise ValueError(f"pretrained encoders fit the cnn_mlp model only, not {method!r}")

    def build() -> nn.Module:
        config.seed_everything(seed)
        model = build_model(method, len(data.vocab))
        if pretrained is not None:
            model.image_encoder.load_state_dict(pretrained.image_encoder.state_dict())
            model.question_encoder.load_state_dict(pretrained.question_encoder.state_dict())
        return model

    def train(model: nn.Module) -> tuple[FitResult, dict]:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        result = fit(model, data.loader("train", batch_size, shuffle=True, seed=seed),
                     val_loader=data.loader("val", batch_size=100), loss_fn=vqa_loss, optimizer=optimizer,
                     scheduler=warmup_cosine(optimizer, epochs), epochs=epochs, device=device, target_key=TARGETS,
                     score_fn=vqa_accuracy, grad_clip=5.0, patience=patience, progress=progress)
        row = {"method": method, "name": METHODS[method], "signal": TRAINING_SIGNAL[method],
               **split_scores(model, data, "test", device), **run_summary(model, result, epochs, seed, device),
               "epochs_run": len(result.history["val_score"]), "lr": lr, "patience": patience,
               "pretrained": pretrained is not None}
        return result, row

    if not cache or pretrained is not None:
        model = build()
        return MethodResult(model, *train(model))
    settings = {"method": method, "seed": seed, "epochs": epochs, "lr": lr, "patience": patience,
                "batch_size": batch_size, "data": data.fingerprint(), "train_images": len(data.splits["train"]["image"])}
    return cached_method("vqa_weights", settings, build, train, device=device, retrain=retrain)


# ----------------------------------------------------------------------------- multimodal autoencoder

AUTOENCODER_IMAGE_SIZE = 25  # the autoencoder rebuilds a 25x25 version of the 75x75 image (3x3 average pooling)


def autoencoder_targets(data: VQAData) -> None:
    """Add the autoencoder's targets to every split of ``data`` (in place), if missing:
    ``small_image`` (N, 3, 25, 25) float in [0, 1] and ``words`` (N, Q, V) float, 1 where the word occurs."""
    pool = 75 // AUTOENCODER_IMAGE_SIZE
    for tensors in data.splits.values():
        if "words" in tensors:
            continue
        tensors["small_image"] = nn.functional.avg_pool2d(tensors["image"].float() / 255, pool)
        words = torch.zeros(*tensors["question"].shape[:2], len(data.vocab))
        words.scatter_(2, tensors["question"], 1.0)
        words[..., data.vocab.pad_id] = 0.0
        tensors["words"] = words


def autoencoder_loss(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Squared error of the rebuilt image (times 10) plus binary cross-entropy of the question's words."""
    image_error = (outputs["small_image"] - targets["small_image"][:, None]).square().mean()
    words_error = nn.functional.binary_cross_entropy_with_logits(outputs["words"], targets["words"])
    return 10 * image_error + words_error


def train_autoencoder(data: VQAData, seed: int = 0, *, epochs: int = 4, lr: float = 2e-3,
                      device: torch.device | None = None, progress: bool = False) -> tuple[VQAAutoencoder, FitResult]:
    """Train a ``VQAAutoencoder`` on the training images and questions (no answers); the epoch with
    the lowest validation loss is kept."""
    device = device or config.get_device()
    config.seed_everything(seed)
    autoencoder_targets(data)
    model = VQAAutoencoder(len(data.vocab), image_size=AUTOENCODER_IMAGE_SIZE)
    keys = ("image", "question", "small_image", "words")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    result = fit(model, data.loader("train", shuffle=True, seed=seed, keys=keys),
                 val_loader=data.loader("val", batch_size=100, keys=keys), loss_fn=autoencoder_loss,
                 optimizer=optimizer, scheduler=warmup_cosine(optimizer, epochs), epochs=epochs, device=device,
                 target_key=["small_image", "words"], score_fn=lambda o, t: -autoencoder_loss(o, t).item(),
                 progress=progress)
    return model, result
