"""Audio-video fusion with temporal convolutional networks on AV-Digits-Video (notebook 09 and its benchmark).

    tensors = load_tensors()                                   # log-mel frames computed once per split
    result = train_method("attention", tensors, epochs=EPOCHS, seed=0)
    result.row   # {"method": "attention", "digit_accuracy": ..., "motion_accuracy": ..., "voice_accuracy": ...,
                 #  "digit_macro_f1": ..., "parameters": ..., "seconds": ..., ...}

Every model reads a clip as two sequences. The video's 16 frames go through a per-frame
encoder (``course_lib.models.GlimpseFrameEncoder``) that finds the digit in each frame (spatial soft-argmax of a
heatmap drawn from the frame, its neighbours and the clip's mean frame, trained against the
true centres) and reads it in the mean of the glimpses cut around it; a TCN then runs over
the 16 frame vectors. The audio's log-mel frames (4 per video frame) go through their own
TCN. A fusion module joins the two sequences and one linear head per task reads the result:
``digit`` (both modalities), ``motion`` (video), ``voice`` (audio). Also here: the synchrony
model (:class:`SynchronyModel`) and a multimodal autoencoder (:class:`MultimodalAutoencoder`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader

from course_lib import config
from course_lib.data import av_digits_video as avdv
from course_lib.data.tensors import tensor_loader
from course_lib.experiments.common import MethodResult, fit_adamw_cosine, group_accuracy
from course_lib.features.audio import NormalizedLogMel, chunked
from course_lib.metrics import accuracy, classification_report
from course_lib.models.autoencoders import MultimodalAutoencoder
from course_lib.models.glimpse import GlimpseFrameEncoder
from course_lib.models.temporal_fusion import LateTemporalFusion, TemporalAttentionFusion
from course_lib.models.temporal_models import SequenceEncoder, SynchronyModel, TemporalFusionModel
from course_lib.train import predict, run_summary

#: Task -> number of classes.
TASKS: dict[str, int] = {"digit": 10, "motion": len(avdv.MOTIONS), "voice": len(avdv.VOICES), "sync": 2}
#: Method key -> (name shown in tables, modalities it reads, what it is trained on, fusion). Trained on
#: "position" means the centre regression of the video's locator; a single-task model has no other loss.
METHODS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "audio": ("audio-only TCN", ("audio",), ("digit", "voice"), "late"),
    "video": ("video-only TCN", ("video",), ("digit", "motion", "position"), "late"),
    "late": ("late fusion (multitask)", ("video", "audio"), ("digit", "motion", "voice", "position"), "late"),
    "attention": ("attention over time (multitask)", ("video", "audio"), ("digit", "motion", "voice", "position"),
                  "attention"),
    "digit_only": ("late fusion, digit task only", ("video", "audio"), ("digit",), "late"),
    "motion_only": ("video-only TCN, motion task only", ("video",), ("motion",), "late"),
    "voice_only": ("audio-only TCN, voice task only", ("audio",), ("voice",), "late"),
}
HEADLINE = "late"
#: The single-task models, one per task of the headline model (benchmarked with the headline's seeds).
SINGLE_TASK = {"digit": "digit_only", "motion": "motion_only", "voice": "voice_only"}
#: The modalities that carry each target: a clip that lost all of them to modality dropout adds no loss to it.
CARRIERS = {"digit": ("video", "audio"), "motion": ("video",), "voice": ("audio",), "position": ("video",),
            "sync": ("video", "audio")}
EPOCHS = 20
AUTOENCODER_EPOCHS = 10
LEARNING_RATE = 3e-3
BATCH_SIZE = 32
SAMPLE_RATE = 8000
N_MELS = 40
N_FFT = 512  # 64 ms windows
AUDIO_STEPS_PER_FRAME = 4  # hop 250 samples = 1/32 s: 4 log-mel frames per video frame
EMBED_DIM = 64
VIDEO_LEVELS = 3  # receptive field 1 + 2 * 2 * 7 = 29 frames >= 16
AUDIO_LEVELS = 4  # receptive field 61 log-mel frames, about 1.9 s
MODALITY_DROPOUT = 0.2
GRAD_CLIP = 5.0  # every model here: gradients clipped to this norm
POSITION_WEIGHT = 10.0  # the digit centres are in (-1, 1): an error of 0.1 costs 0.1


@dataclass
class VideoAudioTensors:
    """AV-Digits-Video ready for training: per split ``{"video": uint8 (N, T, H, W), "audio":
    float (N, n_mels, T * AUDIO_STEPS_PER_FRAME), "digit", "motion", "voice", "degraded": (N,) int64, "onset": (N,) seconds,
    "position": (N, T, 2) the digit's centre (x, y) in every frame, in (-1, 1)}``."""

    splits: dict[str, dict[str, Tensor]]
    frontend: NormalizedLogMel
    fps: int

    def loader(self, split: str, keys: Sequence[str], batch_size: int = BATCH_SIZE, shuffle: bool = False,
               seed: int = 0, pairing: str = "matched") -> DataLoader:
        """A DataLoader of dict batches over ``keys`` of one split; ``pairing="synchrony"`` uses :func:`synchrony_pairs`."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        source = synchrony_pairs(self, split) if pairing == "synchrony" else self.splits[split]
        missing = [k for k in keys if k not in source]
        if missing:
            raise ValueError(f"the {split} split has no {missing}; its keys are {sorted(source)}")
        return tensor_loader({k: source[k] for k in keys}, batch_size, shuffle, seed)


def load_tensors(fast: bool | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> VideoAudioTensors:
    """Load AV-Digits-Video (generated on first use) and compute the log-mel frames once per split."""
    arrays = avdv.load_arrays(fast=fast) if arrays is None else arrays
    fps = int(arrays["video"].shape[1] / (arrays["audio"].shape[1] / SAMPLE_RATE))
    hop = arrays["audio"].shape[1] // (arrays["video"].shape[1] * AUDIO_STEPS_PER_FRAME)
    frontend = NormalizedLogMel(N_MELS, hop, SAMPLE_RATE, N_FFT, whole_hops=True)
    rows = {split: torch.from_numpy(np.flatnonzero(arrays["split"] == i)) for i, split in enumerate(avdv.SPLITS)}
    frontend.fit(arrays["audio"][rows["train"].numpy()])
    size = arrays["video"].shape[-1]
    splits = {}
    for split, index in rows.items():
        splits[split] = {
            "video": torch.from_numpy(arrays["video"][index.numpy()]),
            "audio": chunked(frontend, arrays["audio"][index.numpy()]),
            **{key: torch.from_numpy(arrays[key][index.numpy()]) for key in ("digit", "motion", "voice", "degraded")},
            "onset": torch.from_numpy(arrays["onset"][index.numpy()]),
            "position": torch.from_numpy((arrays["position"][index.numpy()] + 0.5) / size * 2 - 1),
        }
    return VideoAudioTensors(splits, frontend, fps)


def synchrony_pairs(tensors: VideoAudioTensors, split: str) -> dict[str, Tensor]:
    """Matched and mismatched pairs, as ``AVDigitsVideo(split, pairing="synchrony")`` makes them.

    Row ``2i`` is clip ``i`` with its own audio (``sync`` 1); row ``2i + 1`` is clip ``i``'s
    video with the audio of the partner clip (``sync`` 0) whose word starts >= 0.5 s away.
    """
    clips = tensors.splits[split]
    rng = np.random.default_rng([avdv.SEED, avdv.SPLITS.index(split)])
    partners = torch.from_numpy(avdv.synchrony_partners(clips["onset"].numpy(), clips["digit"].numpy(), rng))
    own = torch.arange(len(partners))
    video_rows = own.repeat_interleave(2)
    audio_rows = torch.stack([own, partners], dim=1).flatten()
    return {"video": clips["video"][video_rows], "audio": clips["audio"][audio_rows],
            "sync": (audio_rows == video_rows).long(), "degraded": clips["degraded"][video_rows],
            "digit": clips["digit"][video_rows]}


def make_encoder(modality: str, n_mels: int = N_MELS, dim: int = EMBED_DIM) -> SequenceEncoder:
    """Video: GlimpseFrameEncoder + TCN (3 levels); audio: TCN (4 levels) over log-mel frames. Output (B, T, dim)."""
    if modality == "video":
        return SequenceEncoder("video", dim, VIDEO_LEVELS, dim, frontend=GlimpseFrameEncoder(dim))
    if modality == "audio":
        return SequenceEncoder("audio", n_mels, AUDIO_LEVELS, dim)
    raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")


def build_model(method: str, n_mels: int = N_MELS, dim: int = EMBED_DIM) -> TemporalFusionModel:
    """The model of one method (a key of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    _, modalities, tasks, fusion_kind = METHODS[method]
    encoders = {m: make_encoder(m, n_mels, dim) for m in modalities}
    dims = {m: dim for m in modalities}
    fusion = LateTemporalFusion(dims) if fusion_kind == "late" else TemporalAttentionFusion(dims, dim, num_queries=2)
    dropout = MODALITY_DROPOUT if len(modalities) > 1 else 0.0
    return TemporalFusionModel(encoders, fusion, {t: TASKS[t] for t in tasks if t in TASKS},
                               modality_dropout=dropout, position_target="position" in tasks)


def carried(outputs: Mapping[str, Tensor], target: str) -> Tensor | None:
    """(B,) float: 1 for the clips that kept a modality carrying ``target`` (:data:`CARRIERS`), 0 for the
    others; None when the outputs hold no ``"<modality>_kept"`` flags (no modality dropout: every clip counts)."""
    flags = [outputs[f"{m}_kept"] for m in CARRIERS[target] if f"{m}_kept" in outputs]
    return torch.stack(flags).any(dim=0).float() if flags else None


def multitask_loss(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Sum of the cross-entropies of every task in ``targets``, plus ``POSITION_WEIGHT`` x the centres' squared
    error when ``targets`` holds ``"position"``.

    Each is a mean over the clips that still carry the target after modality dropout (:func:`carried`):
    a clip whose video was dropped adds nothing to the motion and centre losses, one whose audio
    was dropped nothing to the voice loss; the digit, in both streams, always counts.
    """
    loss = torch.zeros((), device=next(iter(outputs.values())).device)
    for key in [k for k in outputs if (k in TASKS or k == "position") and k in targets]:
        weight, reduction = carried(outputs, key), "none"
        if weight is None:  # every clip counts: the plain mean
            reduction, weight = "mean", torch.ones(())
        if key == "position":
            per_clip = F.mse_loss(outputs[key], targets[key], reduction=reduction)
            per_clip = POSITION_WEIGHT * (per_clip if reduction == "mean" else per_clip.mean(dim=(1, 2)))
        else:
            per_clip = F.cross_entropy(outputs[key], targets[key], reduction=reduction)
        loss = loss + (per_clip * weight).sum() / weight.sum().clamp(min=1)
    return loss


def mean_accuracy(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> float:
    """Mean over the classification tasks of the accuracy (the validation score that picks the best epoch)."""
    return float(np.mean([accuracy(outputs[t], targets[t]) for t in outputs if t in TASKS]))


def task_scores(model: TemporalFusionModel, tensors: VideoAudioTensors, split: str = "test",
                zero: str | None = None, device: torch.device | None = None) -> dict[str, float]:
    """Accuracy and macro F1 of every task of ``model`` on a split: ``{"digit_accuracy": ..., ...}``.

    ``zero`` names a modality whose input is set to zero (the modality ablation). Each
    task's accuracy is also split by the clip's degradation (``digit_accuracy_<none|video|audio>``);
    with video, ``position_error_px`` is the mean distance (pixels) between the located and
    the true centre of the digit.
    """
    keys = model.targets + ["position"] * (model.tracks_video and "position" not in model.targets) + ["degraded"]
    outputs, targets = predict(model, ablated_loader(tensors, split, model.modalities, keys, zero), device,
                               target_key=keys)
    scores = {}
    for task in model.heads:
        report = classification_report(outputs[task], targets[task], TASKS[task])
        scores[f"{task}_accuracy"], scores[f"{task}_macro_f1"] = report["accuracy"], report["macro_f1"]
        correct = outputs[task].argmax(1) == targets[task]
        scores.update(group_accuracy(correct, targets["degraded"], avdv.DEGRADED, prefix=f"{task}_accuracy_"))
    if "position" in outputs:
        size = tensors.splits[split]["video"].shape[-1]
        error = (outputs["position"] - targets["position"]).norm(dim=-1) * size / 2
        scores["position_error_px"] = error.mean().item()
    return scores


def ablated_loader(tensors: VideoAudioTensors, split: str, modalities: Sequence[str], targets: Sequence[str],
                   zero: str | None = None, batch_size: int = 250) -> DataLoader:
    """Batches of one split (the ``modalities`` and ``targets`` keys) with ``zero``'s input replaced by zeros."""
    source = dict(tensors.splits[split])
    if zero is not None:
        if zero not in modalities:
            raise ValueError(f"zero must be one of the model's modalities {list(modalities)}, got {zero!r}")
        source[zero] = torch.zeros_like(source[zero])
    keys = [*modalities, *targets]
    return tensor_loader({k: source[k] for k in keys}, batch_size)


def train_method(method: str, tensors: VideoAudioTensors, *, epochs: int = EPOCHS, seed: int = 0,
                 lr: float = LEARNING_RATE, batch_size: int = BATCH_SIZE, dim: int = EMBED_DIM,
                 device: torch.device | None = None, progress: bool = False) -> MethodResult:
    """Train one method (AdamW, cosine schedule) and score it on the test split.

    The weights of the epoch with the best mean validation accuracy over the method's tasks
    are kept. ``seconds`` is the training time (``fit``).
    """
    device = device or config.get_device()
    config.seed_everything(seed)
    model = build_model(method, n_mels=tensors.frontend.n_mels, dim=dim)
    keys = [*model.modalities, *model.targets]
    result = fit_adamw_cosine(model, tensors.loader("train", keys, batch_size, shuffle=True, seed=seed),
                              tensors.loader("val", keys, batch_size=250), loss_fn=multitask_loss,
                              score_fn=mean_accuracy, target_key=model.targets, grad_clip=GRAD_CLIP, epochs=epochs,
                              lr=lr, device=device, progress=progress)
    row = {"method": method, "name": METHODS[method][0], "tasks": list(model.heads),
           **task_scores(model, tensors, device=device), **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)


def train_synchrony(tensors: VideoAudioTensors, *, epochs: int = EPOCHS, seed: int = 0, lr: float = LEARNING_RATE,
                    batch_size: int = BATCH_SIZE, dim: int = EMBED_DIM, device: torch.device | None = None,
                    progress: bool = False) -> MethodResult:
    """Train :class:`SynchronyModel` on matched and mismatched pairs; score it on the test pairs."""
    device = device or config.get_device()
    config.seed_everything(seed)
    model = SynchronyModel({m: make_encoder(m, tensors.frontend.n_mels, dim) for m in ("video", "audio")},
                           levels=VIDEO_LEVELS)
    keys = ["video", "audio", "sync"]
    result = fit_adamw_cosine(model, tensors.loader("train", keys, batch_size, shuffle=True, seed=seed,
                                                    pairing="synchrony"),
                              tensors.loader("val", keys, 250, pairing="synchrony"), loss_fn=multitask_loss,
                              score_fn=mean_accuracy, target_key=["sync"], grad_clip=GRAD_CLIP, epochs=epochs, lr=lr,
                              device=device, progress=progress)
    outputs, targets = predict(model, tensors.loader("test", keys + ["degraded"], 250, pairing="synchrony"), device,
                               target_key=["sync", "degraded"])
    report = classification_report(outputs["sync"], targets["sync"], 2)
    row = {"method": "sync", "name": "synchrony (aligned steps + TCN)", "tasks": ["sync"],
           "sync_accuracy": report["accuracy"], "sync_macro_f1": report["macro_f1"],
           **group_accuracy(outputs["sync"].argmax(1) == targets["sync"], targets["degraded"], avdv.DEGRADED,
                            prefix="sync_accuracy_"),
           **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)


def autoencoder_targets(video: Tensor) -> Tensor:
    """What the autoencoder rebuilds of the video: (B, T, H, W) uint8 -> (B, T, H/2, W/2) in [0, 1]."""
    return F.avg_pool2d(video.float() / 255, 2)


def mean_clips(tensors: VideoAudioTensors) -> dict[str, Tensor]:
    """The per-pixel mean of the training clips' reconstruction targets: video (T, H/2, W/2), audio (n_mels, S)."""
    train = tensors.splits["train"]
    return {"video": autoencoder_targets(train["video"]).mean(dim=0), "audio": train["audio"].mean(dim=0)}


def reconstruction_errors(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                          baselines: Mapping[str, float]) -> dict[str, Tensor]:
    """Each modality's squared error divided by ``baselines[m]``, the mean clip's squared error on the
    training targets: 1 = no better than the mean clip, 0 = perfect."""
    return {m: F.mse_loss(outputs[m], targets[f"{m}_target"]) / baselines[m] for m in ("video", "audio")}


def autoencoder_loader(tensors: VideoAudioTensors, split: str, batch_size: int = BATCH_SIZE, shuffle: bool = False,
                       seed: int = 0, zero: str | None = None) -> DataLoader:
    """Batches of inputs (``zero``'s set to zero) and reconstruction targets ``video_target``, ``audio_target``."""
    clips = tensors.splits[split]
    inputs = {m: torch.zeros_like(clips[m]) if m == zero else clips[m] for m in ("video", "audio")}
    data = {**inputs, "video_target": autoencoder_targets(clips["video"]), "audio_target": clips["audio"]}
    return tensor_loader(data, batch_size, shuffle, seed)


@torch.no_grad()
def codes(model: MultimodalAutoencoder, tensors: VideoAudioTensors, split: str,
          device: torch.device | None = None) -> Tensor:
    """The autoencoder's codes of every clip of a split: (N, code_dim)."""
    model.eval()
    loader = ablated_loader(tensors, split, model.modalities, [], batch_size=250)
    return torch.cat([model.encode({m: b[m].to(device) for m in model.modalities}).cpu() for b in loader])


def linear_probe(train_codes: Tensor, train_labels: Tensor, test_codes: Tensor, test_labels: Tensor) -> float:
    """Test accuracy of a logistic regression fitted on standardized training codes (N, code_dim)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(probe.fit(train_codes.numpy(), train_labels.numpy()).score(test_codes.numpy(), test_labels.numpy()))


def train_autoencoder(tensors: VideoAudioTensors, *, epochs: int = AUTOENCODER_EPOCHS, seed: int = 0,
                      lr: float = LEARNING_RATE, batch_size: int = BATCH_SIZE, dim: int = EMBED_DIM,
                      code_dim: int = 32, device: torch.device | None = None, progress: bool = False) -> MethodResult:
    """Train :class:`MultimodalAutoencoder` without labels, then probe its codes.

    The loss is the mean over the two modalities of :func:`reconstruction_errors` (1 = the
    per-pixel mean training clip). Modality dropout zeroes an input but keeps both targets:
    rebuilding the missing stream from the other is the point. A logistic regression fitted on
    the training clips' codes predicts digit, motion and voice on the test clips
    (``<task>_accuracy``). On the test clips: ``video_error`` and ``audio_error`` with both
    inputs (``reconstruction`` their mean), ``audio_from_video`` (the audio input zeroed) and
    ``video_from_audio`` (the video input zeroed).
    """
    device = device or config.get_device()
    config.seed_everything(seed)
    train = tensors.splits["train"]
    means = mean_clips(tensors)
    baselines = {"video": F.mse_loss(means["video"].expand(len(train["video"]), -1, -1, -1),
                                     autoencoder_targets(train["video"])).item(),
                 "audio": F.mse_loss(means["audio"].expand_as(train["audio"]), train["audio"]).item()}
    encoders = {m: make_encoder(m, tensors.frontend.n_mels, dim) for m in ("video", "audio")}
    model = MultimodalAutoencoder(encoders, means, code_dim=code_dim, modality_dropout=MODALITY_DROPOUT)

    def loss_fn(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
        return sum(reconstruction_errors(outputs, targets, baselines).values()) / 2

    targets = ["video_target", "audio_target"]
    result = fit_adamw_cosine(model, autoencoder_loader(tensors, "train", batch_size, shuffle=True, seed=seed),
                              autoencoder_loader(tensors, "val", 250), loss_fn=loss_fn,
                              score_fn=lambda outputs, y: -loss_fn(outputs, y).item(),
                              target_key=targets, grad_clip=GRAD_CLIP, epochs=epochs, lr=lr, device=device,
                              progress=progress)
    test = tensors.splits["test"]
    train_codes, test_codes = codes(model, tensors, "train", device), codes(model, tensors, "test", device)
    row = {f"{task}_accuracy": linear_probe(train_codes, train[task], test_codes, test[task])
           for task in ("digit", "motion", "voice")}
    for zero in (None, "audio", "video"):
        outputs, y = predict(model, autoencoder_loader(tensors, "test", 250, zero=zero), device, target_key=targets)
        errors = {m: e.item() for m, e in reconstruction_errors(outputs, y, baselines).items()}
        if zero is None:
            row.update(video_error=errors["video"], audio_error=errors["audio"],
                       reconstruction=(errors["video"] + errors["audio"]) / 2)
        else:
            kept = "video" if zero == "audio" else "audio"
            row[f"{zero}_from_{kept}"] = errors[zero]
    row = {"method": "autoencoder", "name": "multimodal autoencoder + linear probe", "tasks": ["digit", "motion", "voice"],
           **row, **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)
