"""Unimodal baselines and every fusion method on AV-Digits: the code of notebook 03 and its benchmark.

    features = load_features()                        # log-mel spectrograms computed once
    result = train_method("gated", features, epochs=EPOCHS, seed=0)
    result.row   # {"method": "gated", "name": "intermediate (gated)", "stage": "intermediate",
                 #  "accuracy": ..., "macro_f1": ..., "parameters": ..., "seconds": ..., ...}

The fusion stages (``STAGES``): **early** fusion joins the inputs before any modality-specific
processing (``"early"``: the log-mel resized to the image's 28x28 grid and stacked with it as a
second channel of one CNN); **intermediate** fusion joins learned embeddings (``"concat"``,
``"gated"``, ``"tensor"``, ``"low_rank"``); **late** fusion combines per-modality decisions, either
trained jointly through averaged logits (``"late"``) or by combining the two unimodal models
after each was trained on its own (``"late_average"``: averaged probabilities; ``"late_weighted"``:
weights fit on the validation split).

Every trained method has the same encoders (a small CNN per modality, ``EMBED_DIM`` outputs; the
early model one CNN of the image's widths), the same head (one hidden layer of ``FUSED_DIM`` units)
and the same training budget. Accuracy and macro F1 are measured on the test split, whose voices
never occur in training. The audio is turned into normalized log-mel spectrograms once, before
training, instead of in every epoch.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from course_lib import config
from course_lib.data import av_digits
from course_lib.data.tensors import tensor_loader
from course_lib.experiments.common import MethodResult
from course_lib.features.audio import NormalizedLogMel, chunked
from course_lib.metrics import classification_report
from course_lib.models import (
    AudioEncoder,
    GatedFusion,
    ImageEncoder,
    MultimodalModel,
    count_parameters,
    make_fusion,
    make_head,
    unimodal_model,
)
from course_lib.models.decision_fusion import DecisionFusion, fit_decision_weights
from course_lib.models.early_fusion import EarlyFusionModel
from course_lib.train import FitResult, fit, predict, run_summary

#: Method key -> the name shown in tables. "image" and "audio" are the unimodal baselines.
METHODS: dict[str, str] = {
    "image": "image only",
    "audio": "audio only",
    "early": "early (2-channel input, one CNN)",
    "concat": "intermediate (concat)",
    "gated": "intermediate (gated)",
    "tensor": "intermediate (tensor, TFN)",
    "low_rank": "intermediate (low-rank, LMF)",
    "late": "late, trained jointly (averaged logits)",
    "late_average": "late, separate models (averaged probabilities)",
    "late_weighted": "late, separate models (weights fit on validation)",
}
#: Method key -> where the modalities meet: "unimodal", "early", "intermediate" or "late".
STAGES: dict[str, str] = {
    "image": "unimodal", "audio": "unimodal", "early": "early", "concat": "intermediate",
    "gated": "intermediate", "tensor": "intermediate", "low_rank": "intermediate", "late": "late",
    "late_average": "late", "late_weighted": "late",
}
UNIMODAL = ("image", "audio")
#: Late fusion of the decisions of the two unimodal models, each trained on its own.
DECISION_METHODS = ("late_average", "late_weighted")
IMAGE_SIZE = (28, 28)  # the grid that early fusion resizes the log-mel to
EPOCHS = 10  # the full-mode budget of every method
LEARNING_RATES = {"adam": 3e-3, "sgd": 0.05, "sgd_momentum": 0.02}
NUM_CLASSES = 10
EMBED_DIM = 32
FUSED_DIM = 64
N_MELS = 32
HOP_LENGTH = 320  # 20 ms at 16 kHz: 51 frames a one-second clip
IMAGE_CHANNELS = (8, 16, 32)
AUDIO_CHANNELS = (8, 16, 16)


@dataclass
class AVDigitsFeatures:
    """AV-Digits ready for fast training: per split, ``{"image": (N, 1, 28, 28),
    "audio": (N, n_mels, T) normalized log-mel, "label": (N,), "snr_db": (N,)}``.

    ``pcm`` holds each split's clips as int16 PCM (N, n_samples); ``frontend`` turns
    them into the same audio features, e.g. after adding more noise to them.
    """

    splits: dict[str, dict[str, Tensor]]
    frontend: NormalizedLogMel
    pcm: dict[str, Tensor]
    classes: list[str]

    def loader(self, split: str, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
               keys: Sequence[str] = ("image", "audio", "label")) -> DataLoader:
        """A DataLoader of dict batches over ``keys`` of one split (shuffled with ``seed``)."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        return tensor_loader({key: self.splits[split][key] for key in keys}, batch_size, shuffle, seed)


def load_features(fast: bool | None = None, n_mels: int = N_MELS, hop_length: int = HOP_LENGTH,
                  arrays: Mapping[str, np.ndarray] | None = None) -> AVDigitsFeatures:
    """Load AV-Digits (generated on first use) and compute its log-mel spectrograms once.

    ``fast=None`` follows ``COURSE_FAST``. ``arrays`` (from ``av_digits.generate`` with
    other parameters, say) replaces the cached dataset; a split name of ``arrays["split"]``
    beyond train, val and test (say ``"calib"``) becomes a split of its own. ``snr_db`` is
    each clip's speech-to-noise ratio in decibels, a continuous target for regression.
    """
    arrays = av_digits.load_arrays(fast=fast) if arrays is None else arrays
    names = dict.fromkeys([*av_digits.SPLITS, *(str(split) for split in np.unique(arrays["split"]))])
    members = {split: np.flatnonzero(arrays["split"] == split) for split in names}
    frontend = NormalizedLogMel(n_mels, hop_length)
    frontend.fit(arrays["audio"][members["train"]])
    splits = {}
    for split, rows in members.items():
        splits[split] = {
            "image": torch.from_numpy(arrays["image"][rows]),
            "audio": chunked(frontend, arrays["audio"][rows]),
            "label": torch.from_numpy(arrays["label"][rows]),
            "snr_db": torch.from_numpy(arrays["snr_db"][rows]),
        }
    pcm = {split: torch.from_numpy(arrays["audio"][rows]) for split, rows in members.items()}
    return AVDigitsFeatures(splits, frontend, pcm, list(av_digits.DIGIT_WORDS))


def make_encoder(modality: str, n_mels: int = N_MELS, embed_dim: int = EMBED_DIM) -> nn.Module:
    """The small CNN of one modality: image (B, 1, 28, 28) or log-mel (B, n_mels, T) -> (B, embed_dim)."""
    if modality == "image":
        return ImageEncoder(out_dim=embed_dim, channels=IMAGE_CHANNELS)
    if modality == "audio":
        return AudioEncoder(n_mels=n_mels, out_dim=embed_dim, channels=AUDIO_CHANNELS)
    raise ValueError(f"modality must be 'image' or 'audio', got {modality!r}")


def build_model(method: str, n_mels: int = N_MELS, embed_dim: int = EMBED_DIM,
                fused_dim: int = FUSED_DIM, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The model of one method (a key of ``METHODS``): encoders -> fusion -> head.

    The unimodal baselines and the intermediate fusion methods share the encoders and the head
    (``fused_dim`` hidden units, ReLU, ``num_classes`` logits); joint late fusion ends in
    per-modality classifiers instead, so its head is ``nn.Identity()``. Early fusion is an
    ``EarlyFusionModel``: the image and the log-mel resized to 28x28 as two channels of one CNN
    (the image encoder's widths) and the same head. A decision method gives a ``DecisionFusion``
    of two fresh unimodal models (``train_method`` trains each on its own before combining them).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method in UNIMODAL:
        return unimodal_model(method, make_encoder(method, n_mels, embed_dim), num_classes, hidden=fused_dim)
    if method == "early":
        encoder = ImageEncoder(in_channels=2, out_dim=embed_dim, channels=IMAGE_CHANNELS, modality="image+audio")
        return EarlyFusionModel({"image": 1, "audio": 1}, encoder, make_head(embed_dim, num_classes, hidden=fused_dim),
                                size=IMAGE_SIZE)
    if method in DECISION_METHODS:
        return DecisionFusion({m: build_model(m, n_mels, embed_dim, fused_dim, num_classes) for m in UNIMODAL})
    encoders = {m: make_encoder(m, n_mels, embed_dim) for m in UNIMODAL}
    dims = {m: embed_dim for m in UNIMODAL}
    if method == "late":
        return MultimodalModel(encoders, make_fusion("late", dims, num_classes=num_classes), nn.Identity())
    kwargs = {"out_dim": fused_dim, **({"rank": 4} if method == "low_rank" else {})}
    fusion = make_fusion(method, dims, **kwargs)
    return MultimodalModel(encoders, fusion, make_head(fusion.out_dim, num_classes, hidden=fused_dim))


def parameter_groups(model: nn.Module, lr: float, gate_lr_scale: float) -> list[dict]:
    """The model's parameters for the optimizer; a ``GatedFusion`` gate gets ``lr * gate_lr_scale``.

    A gate that learns as fast as the rest may lean on the modality whose encoder learns
    first before the other encoder has learned much; the other branch then gets less
    gradient and may lag behind, though it need not be lost (notebook 03, exercise 6: at full
    speed the gate leaned on the image, yet the model stayed well above image only). A
    slower gate waits.
    """
    if not isinstance(getattr(model, "fusion", None), GatedFusion):
        return [{"params": list(model.parameters()), "lr": lr}]
    gate = list(model.fusion.gate.parameters())
    gate_ids = {id(p) for p in gate}
    rest = [p for p in model.parameters() if id(p) not in gate_ids]
    return [{"params": rest, "lr": lr}, {"params": gate, "lr": lr * gate_lr_scale}]


def make_optimizer(name: str, parameters, lr: float | None = None) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` (plain) or ``"sgd_momentum"`` (momentum 0.9); ``lr`` defaults to ``LEARNING_RATES[name]``.

    ``parameters`` is an iterable of tensors or of parameter groups (dicts), as ``torch.optim`` takes.
    """
    if name not in LEARNING_RATES:
        raise ValueError(f"optimizer must be one of {list(LEARNING_RATES)}, got {name!r}")
    lr = LEARNING_RATES[name] if lr is None else lr
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9 if name == "sgd_momentum" else 0.0)


def split_scores(model: nn.Module, features: AVDigitsFeatures, device: torch.device | None = None,
                split: str = "test") -> dict[str, float]:
    """Accuracy and macro F1 of ``model`` on one split (the held-out voices by default)."""
    logits, labels = predict(model, features.loader(split, batch_size=256), device)
    report = classification_report(logits, labels, NUM_CLASSES)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def train_method(method: str, features: AVDigitsFeatures, *, epochs: int, seed: int = 0,
                 optimizer: str = "adam", lr: float | None = None, gate_lr_scale: float = 0.1,
                 batch_size: int = 64, device: torch.device | None = None,
                 progress: bool = False, unimodal: Mapping[str, MethodResult] | None = None) -> MethodResult:
    """Build and train one method with a fixed budget; return the model, history and table row.

    The learning rate follows a cosine from its start value down to zero over the
    ``epochs`` (the gate of gated fusion starts ``gate_lr_scale`` times lower, see
    ``parameter_groups``). The weights of the epoch with the best validation accuracy
    are kept, then scored on the test split. ``seconds`` is the training time (``fit``).

    A decision method (``DECISION_METHODS``) combines the image-only and audio-only models:
    those of ``unimodal`` (``{"image": result, "audio": result}`` from this function) when given,
    else it trains them here with the same settings (``combine_decisions``).
    """
    device = device or config.get_device()
    if method in DECISION_METHODS:
        if unimodal is None:
            unimodal = {m: train_method(m, features, epochs=epochs, seed=seed, optimizer=optimizer, lr=lr,
                                        batch_size=batch_size, device=device, progress=progress)
                        for m in UNIMODAL}
        return combine_decisions(method, unimodal, features, device)
    config.seed_everything(seed)
    model = build_model(method, n_mels=features.frontend.n_mels)
    if optimizer not in LEARNING_RATES:
        raise ValueError(f"optimizer must be one of {list(LEARNING_RATES)}, got {optimizer!r}")
    lr = LEARNING_RATES[optimizer] if lr is None else lr
    optim = make_optimizer(optimizer, parameter_groups(model, lr, gate_lr_scale), lr)
    result = fit(model, features.loader("train", batch_size, shuffle=True, seed=seed),
                 val_loader=features.loader("val", batch_size=256), loss_fn=nn.functional.cross_entropy,
                 optimizer=optim, scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optim, epochs),
                 epochs=epochs, device=device, progress=progress)
    row = {
        "method": method,
        "name": METHODS[method],
        "stage": STAGES[method],
        **split_scores(model, features, device),
        **run_summary(model, result, epochs, seed, device),
        "optimizer": optimizer,
    }
    return MethodResult(model, result, row)


def validation_log_probabilities(fusion: DecisionFusion, features: AVDigitsFeatures,
                                 device: torch.device | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Each modality's log-probabilities on the validation split (CPU) and its labels."""
    loader = features.loader("val", batch_size=256)
    log_probs = {}
    for modality in fusion.modalities:
        logits, labels = predict(fusion.models[modality], loader, device)
        log_probs[modality] = torch.log_softmax(logits, dim=1)
    return log_probs, labels


def combine_decisions(method: str, unimodal: Mapping[str, MethodResult], features: AVDigitsFeatures,
                      device: torch.device | None = None) -> MethodResult:
    """Late fusion of separately trained models: the image-only and audio-only ``unimodal`` results.

    ``"late_average"`` averages their class probabilities; ``"late_weighted"`` weighs them with the
    weights that minimise the cross-entropy on the validation split (``fit_decision_weights``).
    The row's ``seconds`` is the two models' training time plus the time to fit the weights; its
    ``weights`` are the modality weights used.
    """
    if method not in DECISION_METHODS:
        raise ValueError(f"combine_decisions: method must be one of {DECISION_METHODS}, got {method!r}")
    missing = [m for m in UNIMODAL if m not in unimodal]
    if missing:
        raise ValueError(f"combine_decisions: needs the unimodal results {list(UNIMODAL)}, missing {missing}")
    device = device or config.get_device()
    start = time.perf_counter()
    fusion = DecisionFusion({m: unimodal[m].model for m in UNIMODAL}).to(device)
    if method == "late_weighted":
        fusion.set_weights(fit_decision_weights(*validation_log_probabilities(fusion, features, device)))
    seconds = sum(unimodal[m].row["seconds"] for m in UNIMODAL) + time.perf_counter() - start
    first = unimodal[UNIMODAL[0]].row
    row = {
        "method": method,
        "name": METHODS[method],
        "stage": STAGES[method],
        **split_scores(fusion, features, device),
        "parameters": count_parameters(fusion),
        "seconds": seconds,
        "best_epoch": None,
        "epochs": first["epochs"],
        "seed": first["seed"],
        "device": str(device),
        "optimizer": first["optimizer"],
        "weights": fusion.modality_weights(),
    }
    return MethodResult(fusion, FitResult(seconds=seconds), row)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A markdown table of rows from ``train_method`` (accuracy and F1 in percent)."""
    lines = ["| method | test accuracy | macro F1 | parameters | training seconds |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['name']} | {100 * row['accuracy']:.1f} % | {100 * row['macro_f1']:.1f} % | "
                     f"{row['parameters']:,} | {row['seconds']:.1f} |")
    return "\n".join(lines)
