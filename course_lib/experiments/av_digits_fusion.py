"""Unimodal baselines and every fusion method on AV-Digits: the code of notebook 03 and its benchmark.

    features = load_features()                        # log-mel spectrograms computed once
    result = train_method("gated", features, epochs=EPOCHS, seed=0)
    result.row   # {"method": "gated", "name": "dynamic (gated)", "accuracy": ..., "macro_f1": ...,
                 #  "parameters": ..., "seconds": ..., ...}

Every method has the same encoders (a small CNN per modality, ``EMBED_DIM`` outputs),
the same head (one hidden layer of ``FUSED_DIM`` units) and the same training budget;
only the fusion module between them changes. Accuracy and macro F1 are measured on
the test split, whose voices never occur in training. The audio is turned into
normalized log-mel spectrograms once, before training, instead of in every epoch.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from course_lib import config
from course_lib.data import av_digits
from course_lib.metrics import classification_report
from course_lib.models import (
    AudioEncoder,
    GatedFusion,
    ImageEncoder,
    LogMelSpectrogram,
    MultimodalModel,
    make_fusion,
    make_head,
    unimodal_model,
)
from course_lib.train import FitResult, fit, predict, run_summary

#: Method key -> the name shown in tables. "image" and "audio" are the unimodal baselines.
METHODS: dict[str, str] = {
    "image": "image only",
    "audio": "audio only",
    "concat": "early (concat)",
    "late": "late",
    "gated": "dynamic (gated)",
    "tensor": "tensor (TFN)",
    "low_rank": "low-rank (LMF)",
}
UNIMODAL = ("image", "audio")
EPOCHS = 10  # the full-mode budget of every method
LEARNING_RATES = {"adam": 3e-3, "sgd": 0.05, "sgd_momentum": 0.02}
NUM_CLASSES = 10
EMBED_DIM = 32
FUSED_DIM = 64
N_MELS = 32
HOP_LENGTH = 320  # 20 ms at 16 kHz: 51 frames a one-second clip
IMAGE_CHANNELS = (8, 16, 32)
AUDIO_CHANNELS = (8, 16, 16)


class NormalizedLogMel(nn.Module):
    """Waveforms (B, n_samples) -> mean-normalized log-mel spectrograms (B, n_mels, T).

    Each clip's log-mel (in dB) has the mean over time of every mel band removed
    (cepstral mean normalization): a constant gain and the colour of stationary
    background noise are constant offsets per band in dB, so this takes them out.
    The result is divided by one standard deviation measured on the training clips
    (``fit``), so every split is scaled the same way. With ``whole_hops=True`` only the
    ``n_samples // hop_length`` frames that start inside the clip are kept (T = steps of
    exactly ``hop_length`` samples, which lines the audio up with a video's frames).
    """

    def __init__(self, n_mels: int = N_MELS, hop_length: int = HOP_LENGTH, sample_rate: int = 16000,
                 n_fft: int = 400, whole_hops: bool = False) -> None:
        super().__init__()
        self.n_mels, self.hop_length, self.whole_hops = n_mels, hop_length, whole_hops
        self.log_mel = LogMelSpectrogram(sample_rate, n_fft, hop_length, n_mels)
        self.register_buffer("std", torch.tensor(1.0))

    def centred(self, waveforms: Tensor) -> Tensor:
        """(B, n_samples) -> log-mel minus each band's mean over time (B, n_mels, T), in dB."""
        spectrograms = self.log_mel(waveforms)
        if self.whole_hops:
            spectrograms = spectrograms[..., : waveforms.shape[-1] // self.hop_length]
        return spectrograms - spectrograms.mean(dim=-1, keepdim=True)

    @torch.no_grad()
    def fit(self, pcm: np.ndarray | Tensor) -> NormalizedLogMel:
        """Set ``std`` from the training clips (N, n_samples); returns self."""
        self.std.copy_(chunked(self.centred, pcm).std())
        return self

    def forward(self, waveforms: Tensor) -> Tensor:
        """(B, n_samples) -> (B, n_mels, T)."""
        return self.centred(waveforms) / self.std


@torch.no_grad()
def chunked(frontend: Callable[[Tensor], Tensor], pcm: np.ndarray | Tensor, chunk: int = 500) -> Tensor:
    """int16 PCM clips (N, n_samples) or float waveforms in [-1, 1] -> ``frontend`` outputs, 500 clips at a time."""
    waveforms = torch.as_tensor(pcm)
    if not waveforms.is_floating_point():
        waveforms = waveforms.float() / 32768.0
    return torch.cat([frontend(waveforms[i : i + chunk]) for i in range(0, len(waveforms), chunk)])


class TensorDictDataset(Dataset):
    """Rows of equally long tensors: item ``i`` is ``{key: tensors[key][i]}``."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        lengths = {key: len(value) for key, value in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"TensorDictDataset: every tensor needs the same length, got {lengths}")
        self.tensors = dict(tensors)
        self.length = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}


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
        tensors = {key: self.splits[split][key] for key in keys}
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(TensorDictDataset(tensors), batch_size=batch_size, shuffle=shuffle,
                          generator=generator)


def load_features(fast: bool | None = None, n_mels: int = N_MELS, hop_length: int = HOP_LENGTH,
                  arrays: Mapping[str, np.ndarray] | None = None) -> AVDigitsFeatures:
    """Load AV-Digits (generated on first use) and compute its log-mel spectrograms once.

    ``fast=None`` follows ``COURSE_FAST``. ``arrays`` (from ``av_digits.generate`` with
    other parameters, say) replaces the cached dataset. ``snr_db`` is each clip's
    speech-to-noise ratio in decibels, a continuous target for regression.
    """
    arrays = av_digits.load_arrays(fast=fast) if arrays is None else arrays
    members = {split: np.flatnonzero(arrays["split"] == split) for split in av_digits.SPLITS}
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
                fused_dim: int = FUSED_DIM, num_classes: int = NUM_CLASSES) -> MultimodalModel:
    """The model of one method (a key of ``METHODS``): encoders -> fusion -> head.

    The unimodal baselines and the fusion methods share the encoders and the head
    (``fused_dim`` hidden units, ReLU, ``num_classes`` logits); late fusion ends in
    per-modality classifiers instead, so its head is ``nn.Identity()``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method in UNIMODAL:
        return unimodal_model(method, make_encoder(method, n_mels, embed_dim), num_classes, hidden=fused_dim)
    encoders = {m: make_encoder(m, n_mels, embed_dim) for m in UNIMODAL}
    dims = {m: embed_dim for m in UNIMODAL}
    if method == "late":
        return MultimodalModel(encoders, make_fusion("late", dims, num_classes=num_classes), nn.Identity())
    kwargs = {"out_dim": fused_dim, **({"rank": 4} if method == "low_rank" else {})}
    fusion = make_fusion(method, dims, **kwargs)
    return MultimodalModel(encoders, fusion, make_head(fusion.out_dim, num_classes, hidden=fused_dim))


def parameter_groups(model: MultimodalModel, lr: float, gate_lr_scale: float) -> list[dict]:
    """The model's parameters for the optimizer; a ``GatedFusion`` gate gets ``lr * gate_lr_scale``.

    A gate that learns as fast as the rest commits to the modality whose encoder learns
    first (here the image) before the other encoder has learned anything; the other
    branch then gets almost no gradient and never catches up. A slower gate waits.
    """
    if not isinstance(model.fusion, GatedFusion):
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
    lr = lr or LEARNING_RATES[name]
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9 if name == "sgd_momentum" else 0.0)


@dataclass
class MethodResult:
    """A trained method: the model (best validation epoch), its ``fit`` history and its table ``row``."""

    model: MultimodalModel
    fit: FitResult
    row: dict


def split_scores(model: nn.Module, features: AVDigitsFeatures, device: torch.device | None = None,
                split: str = "test") -> dict[str, float]:
    """Accuracy and macro F1 of ``model`` on one split (the held-out voices by default)."""
    logits, labels = predict(model, features.loader(split, batch_size=256), device)
    report = classification_report(logits, labels, NUM_CLASSES)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def train_method(method: str, features: AVDigitsFeatures, *, epochs: int, seed: int = 0,
                 optimizer: str = "adam", lr: float | None = None, gate_lr_scale: float = 0.1,
                 batch_size: int = 64, device: torch.device | None = None,
                 progress: bool = False) -> MethodResult:
    """Build and train one method with a fixed budget; return the model, history and table row.

    The learning rate follows a cosine from its start value down to zero over the
    ``epochs`` (the gate of gated fusion starts ``gate_lr_scale`` times lower, see
    ``parameter_groups``). The weights of the epoch with the best validation accuracy
    are kept, then scored on the test split. ``seconds`` is the training time (``fit``).
    """
    device = device or config.get_device()
    config.seed_everything(seed)
    model = build_model(method, n_mels=features.frontend.n_mels)
    if optimizer not in LEARNING_RATES:
        raise ValueError(f"optimizer must be one of {list(LEARNING_RATES)}, got {optimizer!r}")
    lr = lr or LEARNING_RATES[optimizer]
    optim = make_optimizer(optimizer, parameter_groups(model, lr, gate_lr_scale), lr)
    result = fit(model, features.loader("train", batch_size, shuffle=True, seed=seed),
                 val_loader=features.loader("val", batch_size=256), loss_fn=nn.functional.cross_entropy,
                 optimizer=optim, scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optim, epochs),
                 epochs=epochs, device=device, progress=progress)
    row = {
        "method": method,
        "name": METHODS[method],
        **split_scores(model, features, device),
        **run_summary(model, result, epochs, seed, device),
        "optimizer": optimizer,
    }
    return MethodResult(model, result, row)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A markdown table of rows from ``train_method`` (accuracy and F1 in percent)."""
    lines = ["| method | test accuracy | macro F1 | parameters | training seconds |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['name']} | {100 * row['accuracy']:.1f} % | {100 * row['macro_f1']:.1f} % | "
                     f"{row['parameters']:,} | {row['seconds']:.1f} |")
    return "\n".join(lines)
