"""Audio-video fusion with temporal convolutional networks on AV-Digits-Video (notebook 09 and its benchmark).

    tensors = load_tensors()                                   # log-mel frames computed once per split
    result = train_method("attention", tensors, epochs=EPOCHS, seed=0)
    result.row   # {"method": "attention", "digit_accuracy": ..., "motion_accuracy": ..., "voice_accuracy": ...,
                 #  "digit_macro_f1": ..., "parameters": ..., "seconds": ..., ...}

Every model reads a clip as two sequences. The video's 16 frames go through a per-frame
encoder (:class:`FrameEncoder`) that finds the digit in each frame (spatial soft-argmax of a
heatmap drawn from the frame, its neighbours and the clip's mean frame, trained against the
true centres) and reads it in the mean of the glimpses cut around it; a TCN then runs over
the 16 frame vectors. The audio's log-mel frames (4 per video frame) go through their own
TCN. A fusion module joins the two sequences and one linear head per task reads the result:
``digit`` (both modalities), ``motion`` (video), ``voice`` (audio). Also here: the synchrony
model (:class:`SynchronyModel`) and a multimodal autoencoder (:class:`MultimodalAutoencoder`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from course_lib import config
from course_lib.data import av_digits_video as avdv
from course_lib.experiments.av_digits_fusion import NormalizedLogMel, TensorDictDataset, chunked
from course_lib.metrics import accuracy, classification_report
from course_lib.models.coordinates import coordinate_grid
from course_lib.models.encoders import conv_block
from course_lib.models.tcn import TCN
from course_lib.models.temporal_fusion import AlignedConcatFusion, LateTemporalFusion, TemporalAttentionFusion
from course_lib.train import FitResult, fit, predict, run_summary

#: Task -> number of classes.
TASKS: dict[str, int] = {"digit": 10, "motion": len(avdv.MOTIONS), "voice": len(avdv.VOICES), "sync": 2}
#: Method key -> (name shown in tables, modalities it reads, tasks it is trained on, fusion).
METHODS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "audio": ("audio-only TCN", ("audio",), ("digit", "voice"), "late"),
    "video": ("video-only TCN", ("video",), ("digit", "motion"), "late"),
    "late": ("late fusion (multitask)", ("video", "audio"), ("digit", "motion", "voice"), "late"),
    "attention": ("attention over time (multitask)", ("video", "audio"), ("digit", "motion", "voice"), "attention"),
    "digit_only": ("late fusion, digit task only", ("video", "audio"), ("digit",), "late"),
}
HEADLINE = "late"
EPOCHS = 20
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
POSITION_WEIGHT = 10.0  # the digit centres are in (-1, 1): an error of 0.1 costs 0.1
CONTEXT_FRAMES = 4  # the locator's input channels: previous, current and next frame, and the clip's mean frame


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
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(TensorDictDataset({k: source[k] for k in keys}), batch_size=batch_size,
                          shuffle=shuffle, generator=generator)


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


def spatial_soft_argmax(heatmap: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and spread of the position under the softmax of each heatmap.

    (N, H, W) -> centres (N, 2) as (x, y) in (-1, 1), and spread (N,): the root-mean-square
    distance of the softmax's weight from that centre. The spread is small for one sharp
    peak and large when the weight is split between places (the digit and a distractor):
    it says how far to trust the centre.
    """
    n, h, w = heatmap.shape
    weights = heatmap.flatten(1).softmax(dim=-1).view(n, h, w)
    grid = coordinate_grid(h, w, heatmap.device).T.reshape(2, h, w)  # x map, y map
    centres = torch.einsum("nhw,chw->nc", weights, grid)
    squared = (grid[None] - centres[:, :, None, None]).square().sum(dim=1)  # (N, H, W)
    spread = (weights * squared).sum(dim=(1, 2)).clamp(min=1e-8).sqrt()
    return centres, spread


def glimpse(frames: Tensor, centres: Tensor, window: float, size: int) -> Tensor:
    """Crop a square of side ``window`` (a fraction of the frame) around each centre, resampled to size x size.

    frames (N, 1, H, W), centres (N, 2) as (x, y) in (-1, 1) -> (N, 1, size, size), bilinear
    (``F.affine_grid`` + ``F.grid_sample``: the sampling step of a spatial transformer network).
    """
    theta = torch.zeros(len(frames), 2, 3, device=frames.device, dtype=frames.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = window
    theta[:, :, 2] = centres
    grid = F.affine_grid(theta, [len(frames), 1, size, size], align_corners=False)
    return F.grid_sample(frames, grid, align_corners=False)


class FrameEncoder(nn.Module):
    """Per-frame encoder that follows the digit: video (B, T, H, W) -> (B, T, out_dim).

    1. *Where*: a small CNN draws a heatmap from the half-resolution frame seen in context
       (:meth:`context`: the frame, its two neighbours and the clip's mean frame); its spatial
       soft-argmax is the digit's centre (x, y) in (-1, 1) in every frame, and the spread of the
       softmax says how sure that centre is (:meth:`locate`).
    2. *What*: a ``glimpse_size`` x ``glimpse_size`` crop of the full-resolution frame around
       that centre (covering ``window`` of the frame's side). The crops of all frames show the
       digit at the same place, so their mean over the clip is a steadier picture of the digit
       (noise, flickering strokes and the drifting distractor average out); a CNN reads it once.
    3. Each frame's vector has two halves: *what* (the digit reading and the crop's mean and
       peak brightness: the digit lights up while it is spoken) and *how it moves* (the centre
       relative to the clip's mean centre, its change since the previous frame and the spread),
       each through its own linear layer and ReLU, so the few numbers of the path are not
       drowned among the reading's many.

    Video is uint8 or float in [0, 1]; batch norm keeps the dim, noisy frames trainable.
    """

    def __init__(self, out_dim: int = EMBED_DIM, channels: Sequence[int] = (32, 64, 96),
                 window: float = 0.6, glimpse_size: int = 20) -> None:
        super().__init__()
        self.out_dim, self.window, self.glimpse_size = out_dim, window, glimpse_size
        self.locator = nn.Sequential(nn.AvgPool2d(2), conv_block(CONTEXT_FRAMES, 8), conv_block(8, 16, pool=False),
                                     conv_block(16, 16, pool=False), nn.Conv2d(16, 1, 1))
        c1, c2, c3 = channels
        self.reader = nn.Sequential(conv_block(1, c1), conv_block(c1, c2), conv_block(c2, c3, pool=False),
                                    nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.what = nn.Sequential(nn.Linear(c3 + 2, out_dim - out_dim // 2), nn.ReLU())
        self.path = nn.Sequential(nn.Linear(5, out_dim // 2), nn.ReLU())

    @staticmethod
    def frames(video: Tensor) -> Tensor:
        """(B, T, H, W) uint8 or float -> (B * T, 1, H, W) float in [0, 1]."""
        if video.dim() != 4:
            raise ValueError(f"FrameEncoder: video must have shape (B, T, H, W), got {tuple(video.shape)}")
        frames = video.float() / 255 if video.dtype == torch.uint8 else video
        return frames.reshape(-1, 1, *video.shape[2:])

    @classmethod
    def context(cls, video: Tensor) -> Tensor:
        """What the locator sees of each frame: (B, T, H, W) -> (B * T, CONTEXT_FRAMES, H, W) in [0, 1].

        The channels are the previous frame, the frame, the next frame (the first and last
        frames stand in for their missing neighbours) and the mean of all the clip's frames.
        The digit is in all of them near the same place, while pixel noise and clutter strokes
        change from frame to frame; the mean frame shows the digit's path with a quarter of
        the noise, and a distractor as a fainter, smaller smear.
        """
        frames = cls.frames(video).view(video.shape)  # (B, T, H, W) float
        padded = torch.cat([frames[:, :1], frames, frames[:, -1:]], dim=1)
        mean = frames.mean(dim=1, keepdim=True).expand_as(frames)
        stacked = torch.stack([padded[:, :-2], frames, padded[:, 2:], mean], dim=2)  # (B, T, 4, H, W)
        return stacked.flatten(0, 1)

    def locate(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """The digit's centre in every frame and how sure it is: (B, T, H, W) -> (B, T, 2) as (x, y)
        in (-1, 1), and the heatmap's spread (B, T) (see :func:`spatial_soft_argmax`)."""
        heatmap = self.locator(self.context(video)).squeeze(1)  # (BT, H/4, W/4)
        centres, spread = spatial_soft_argmax(heatmap)
        return centres.view(*video.shape[:2], 2), spread.view(video.shape[:2])

    def glimpses(self, video: Tensor, centres: Tensor) -> Tensor:
        """Crops around the centres: (B, T, H, W), (B, T, 2) -> (B, T, glimpse_size, glimpse_size)."""
        crops = glimpse(self.frames(video), centres.reshape(-1, 2).detach(), self.window, self.glimpse_size)
        return crops.view(*video.shape[:2], self.glimpse_size, self.glimpse_size)

    def forward(self, video: Tensor, located: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(B, T, H, W) (and :meth:`locate`'s output for it, else computed here) -> (B, T, out_dim)."""
        centres, spread = self.locate(video) if located is None else located
        crops = self.glimpses(video, centres)  # (B, T, g, g)
        what = self.reader(crops.mean(dim=1, keepdim=True))  # (B, c3): one reading per clip
        light = torch.stack([crops.mean(dim=(2, 3)), crops.amax(dim=(2, 3))], dim=-1)  # (B, T, 2)
        what = torch.cat([what[:, None].expand(-1, video.shape[1], -1), light], dim=-1)
        relative = centres - centres.mean(dim=1, keepdim=True)  # the motion, wherever the digit is
        velocity = centres - torch.cat([centres[:, :1], centres[:, :-1]], dim=1)  # 0 for the first frame
        path = torch.cat([4 * relative, 16 * velocity, 4 * spread[..., None]], dim=-1)  # all of order 1
        return torch.cat([self.what(what), self.path(path)], dim=-1)


class SequenceEncoder(nn.Module):
    """A per-step front end followed by a TCN: modality input -> (B, T, out_dim).

    ``frontend`` maps the input to steps (B, T, C) (video: :class:`FrameEncoder`), or is
    ``None`` for an input that already is a sequence of feature frames (B, C, T) (log-mel).
    """

    def __init__(self, modality: str, in_channels: int, levels: int, out_dim: int = EMBED_DIM,
                 frontend: nn.Module | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.modality, self.out_dim, self.in_channels = modality, out_dim, in_channels
        self.frontend = frontend
        self.tcn = TCN(in_channels, [out_dim] * levels, kernel_size=3, dropout=dropout)

    def steps(self, x: Tensor) -> Tensor:
        """Modality input -> per-step features (B, T, in_channels)."""
        if self.frontend is not None:
            return self.frontend(x)
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.modality} must have shape (B, {self.in_channels}, T), got {tuple(x.shape)}")
        return x.transpose(1, 2)

    def temporal(self, steps: Tensor) -> Tensor:
        """(B, T, in_channels) -> TCN -> (B, T, out_dim)."""
        return self.tcn(steps.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.temporal(self.steps(x))


def make_encoder(modality: str, n_mels: int = N_MELS, dim: int = EMBED_DIM) -> SequenceEncoder:
    """Video: FrameEncoder + TCN (3 levels); audio: TCN (4 levels) over log-mel frames. Output (B, T, dim)."""
    if modality == "video":
        return SequenceEncoder("video", dim, VIDEO_LEVELS, dim, frontend=FrameEncoder(dim))
    if modality == "audio":
        return SequenceEncoder("audio", n_mels, AUDIO_LEVELS, dim)
    raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")


def drop_modalities(inputs: Mapping[str, Tensor], probability: float) -> dict[str, Tensor]:
    """Modality dropout on the inputs: each clip loses, with ``probability``, one randomly chosen modality.

    The modality's input is set to zero, as the ablation does at test time; unlike
    :class:`course_lib.models.ModalityDropout`, which drops (B, D) embeddings and rescales the rest.
    """
    modalities = list(inputs)
    batch = inputs[modalities[0]].shape[0]
    dropped = torch.rand(batch) < probability
    which = torch.randint(len(modalities), (batch,))
    out = {}
    for i, m in enumerate(modalities):
        keep = ~(dropped & (which == i))
        out[m] = inputs[m] * keep.view((batch,) + (1,) * (inputs[m].dim() - 1)).to(inputs[m].device, inputs[m].dtype)
    return out


class TemporalFusionModel(nn.Module):
    """{modality: input} -> per-modality sequence encoders -> fusion of the sequences -> {task: logits}.

    Args:
        encoders: ``{modality: SequenceEncoder}``, each returning (B, T_m, D).
        fusion: ``LateTemporalFusion`` or ``TemporalAttentionFusion`` over those sequences.
        tasks: ``{task: classes}``; one linear head per task reads the fused vector.
        modality_dropout: in training, the chance that a clip loses one modality (its
            input set to zero), so the model learns to cope with each modality alone.

    With a video encoder the outputs also hold ``"position"`` (B, T, 2): where the video
    encoder located the digit in each frame, trained against the true centres.
    """

    def __init__(self, encoders: Mapping[str, SequenceEncoder], fusion: nn.Module, tasks: Mapping[str, int],
                 modality_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.heads = nn.ModuleDict({task: nn.Linear(fusion.out_dim, n) for task, n in tasks.items()})
        self.modalities = tuple(encoders)
        self.modality_dropout = modality_dropout

    @property
    def targets(self) -> list[str]:
        """The batch keys the model is trained on: its tasks, plus ``"position"`` with a video encoder."""
        return list(self.heads) + (["position"] if "video" in self.modalities else [])

    def encode(self, inputs: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        """{modality: input} -> ({modality: (B, T_m, D)}, the video's digit centres (B, T, 2) or None)."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"the model expects a dict {{modality: tensor}}, got {type(inputs).__name__}")
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ValueError(f"the model needs the modalities {list(self.modalities)}, the inputs lack {missing}")
        inputs = {m: inputs[m] for m in self.modalities}
        if self.training and self.modality_dropout > 0 and len(self.modalities) > 1:
            inputs = drop_modalities(inputs, self.modality_dropout)
        sequences, centres = {}, None
        for m, x in inputs.items():
            encoder = self.encoders[m]
            if m == "video":
                located = encoder.frontend.locate(x)
                sequences[m] = encoder.temporal(encoder.frontend(x, located))
                centres = located[0]
            else:
                sequences[m] = encoder(x)
        return sequences, centres

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{modality: input} -> {task: logits (B, classes)} (plus ``"position"`` (B, T, 2) with video)."""
        sequences, centres = self.encode(inputs)
        fused = self.fusion(sequences)
        outputs = {task: head(fused) for task, head in self.heads.items()}
        if centres is not None:
            outputs["position"] = centres
        return outputs


def build_model(method: str, n_mels: int = N_MELS, dim: int = EMBED_DIM) -> TemporalFusionModel:
    """The model of one method (a key of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    _, modalities, tasks, fusion_kind = METHODS[method]
    encoders = {m: make_encoder(m, n_mels, dim) for m in modalities}
    dims = {m: dim for m in modalities}
    fusion = LateTemporalFusion(dims) if fusion_kind == "late" else TemporalAttentionFusion(dims, dim, num_queries=2)
    dropout = MODALITY_DROPOUT if len(modalities) > 1 else 0.0
    return TemporalFusionModel(encoders, fusion, {t: TASKS[t] for t in tasks}, modality_dropout=dropout)


def multitask_loss(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Sum of the cross-entropies of every task, plus ``POSITION_WEIGHT`` x the centres' squared error."""
    loss = sum(F.cross_entropy(outputs[task], targets[task]) for task in outputs if task in TASKS)
    if "position" in outputs:
        loss = loss + POSITION_WEIGHT * F.mse_loss(outputs["position"], targets["position"])
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
    keys = model.targets + ["degraded"]
    outputs, targets = predict(model, ablated_loader(tensors, split, model.modalities, keys, zero), device,
                               target_key=keys)
    scores = {}
    for task in model.heads:
        report = classification_report(outputs[task], targets[task], TASKS[task])
        scores[f"{task}_accuracy"], scores[f"{task}_macro_f1"] = report["accuracy"], report["macro_f1"]
        for code, name in enumerate(avdv.DEGRADED):
            rows = targets["degraded"] == code
            correct = outputs[task][rows].argmax(1) == targets[task][rows]
            scores[f"{task}_accuracy_{name}"] = correct.float().mean().item()
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
    return DataLoader(TensorDictDataset({k: source[k] for k in keys}), batch_size=batch_size)


@dataclass
class MethodResult:
    """A trained method: the model (best validation epoch), its ``fit`` history and its table ``row``."""

    model: TemporalFusionModel
    fit: FitResult
    row: dict


def _fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, *, loss_fn, score_fn,
         target_key: Sequence[str], epochs: int, lr: float, device: torch.device, progress: bool) -> FitResult:
    """The training recipe of every model here: AdamW, a cosine schedule, gradients clipped at 5."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    return fit(model, train_loader, val_loader=val_loader, loss_fn=loss_fn, optimizer=optimizer, scheduler=scheduler,
               epochs=epochs, device=device, target_key=target_key, score_fn=score_fn, grad_clip=5.0,
               progress=progress)


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
    result = _fit(model, tensors.loader("train", keys, batch_size, shuffle=True, seed=seed),
                  tensors.loader("val", keys, batch_size=250), loss_fn=multitask_loss, score_fn=mean_accuracy,
                  target_key=model.targets, epochs=epochs, lr=lr, device=device, progress=progress)
    row = {"method": method, "name": METHODS[method][0], "tasks": list(model.heads),
           **task_scores(model, tensors, device=device), **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)


class SynchronyModel(nn.Module):
    """Does the audio belong to this video *now*? {video, audio} -> {"sync": logits (B, 2)}.

    The two encoders' sequences are aligned step by step (the audio averaged down to the
    video's frames, :class:`AlignedConcatFusion`), a TCN compares them moment by moment
    and its mean over time feeds the head: a mismatched pair says the same digit, but the
    word is heard while the digit is not lit.
    """

    def __init__(self, n_mels: int = N_MELS, dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({m: make_encoder(m, n_mels, dim) for m in ("video", "audio")})
        self.modalities = ("video", "audio")
        self.fusion = AlignedConcatFusion({"video": dim, "audio": dim})
        self.tcn = TCN(self.fusion.out_dim, [dim] * VIDEO_LEVELS, kernel_size=3, dropout=0.1)
        self.head = nn.Linear(dim, 2)

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        steps = self.fusion({m: self.encoders[m](inputs[m]) for m in self.modalities})  # (B, T, 2 dim)
        return {"sync": self.head(self.tcn(steps.transpose(1, 2)).mean(dim=2))}


def train_synchrony(tensors: VideoAudioTensors, *, epochs: int = EPOCHS, seed: int = 0, lr: float = LEARNING_RATE,
                    batch_size: int = BATCH_SIZE, dim: int = EMBED_DIM, device: torch.device | None = None,
                    progress: bool = False) -> MethodResult:
    """Train :class:`SynchronyModel` on matched and mismatched pairs; score it on the test pairs."""
    device = device or config.get_device()
    config.seed_everything(seed)
    model = SynchronyModel(n_mels=tensors.frontend.n_mels, dim=dim)
    keys = ["video", "audio", "sync"]
    result = _fit(model, tensors.loader("train", keys, batch_size, shuffle=True, seed=seed, pairing="synchrony"),
                  tensors.loader("val", keys, 250, pairing="synchrony"), loss_fn=multitask_loss,
                  score_fn=mean_accuracy, target_key=["sync"], epochs=epochs, lr=lr, device=device, progress=progress)
    outputs, targets = predict(model, tensors.loader("test", keys + ["degraded"], 250, pairing="synchrony"), device,
                               target_key=["sync", "degraded"])
    report = classification_report(outputs["sync"], targets["sync"], 2)
    row = {"method": "sync", "name": "synchrony (aligned steps + TCN)", "tasks": ["sync"],
           "sync_accuracy": report["accuracy"], "sync_macro_f1": report["macro_f1"],
           **{f"sync_accuracy_{name}": (outputs["sync"].argmax(1) == targets["sync"])[targets["degraded"] == code]
              .float().mean().item() for code, name in enumerate(avdv.DEGRADED)},
           **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)



class MultimodalAutoencoder(nn.Module):
    """Both modalities -> one shared code -> both modalities again, learned without labels.

    ``{"video": (B, T, H, W), "audio": (B, n_mels, S)}`` -> ``{"code": (B, code_dim),
    "video": (B, T, H/2, W/2) frames at half resolution, "audio": (B, n_mels, S)}``.
    The encoders are the TCN encoders of the classifiers; their sequences are averaged over
    time (late pooled fusion) and squeezed into the code; one linear decoder per modality
    rebuilds its input from the code. Trained with modality dropout, the code of a clip
    with one modality zeroed must still rebuild both, so it learns what they share.
    """

    def __init__(self, frames: int, size: int, steps: int, n_mels: int = N_MELS, dim: int = EMBED_DIM,
                 code_dim: int = 32, modality_dropout: float = MODALITY_DROPOUT) -> None:
        super().__init__()
        self.modalities = ("video", "audio")
        self.encoders = nn.ModuleDict({m: make_encoder(m, n_mels, dim) for m in self.modalities})
        self.fusion = LateTemporalFusion({"video": dim, "audio": dim})
        self.to_code = nn.Linear(self.fusion.out_dim, code_dim)
        self.video_shape, self.audio_shape = (frames, size // 2, size // 2), (n_mels, steps)
        self.decoders = nn.ModuleDict({"video": nn.Linear(code_dim, math.prod(self.video_shape)),
                                       "audio": nn.Linear(code_dim, math.prod(self.audio_shape))})
        self.modality_dropout = modality_dropout

    def encode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: input} -> code (B, code_dim)."""
        inputs = {m: inputs[m] for m in self.modalities}
        if self.training and self.modality_dropout > 0:
            inputs = drop_modalities(inputs, self.modality_dropout)
        return self.to_code(self.fusion({m: self.encoders[m](x) for m, x in inputs.items()}))

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        code = self.encode(inputs)
        video = self.decoders["video"](code).view(-1, *self.video_shape)
        return {"code": code, "video": video, "audio": self.decoders["audio"](code).view(-1, *self.audio_shape)}


def autoencoder_targets(video: Tensor) -> Tensor:
    """What the autoencoder rebuilds of the video: (B, T, H, W) uint8 -> (B, T, H/2, W/2) in [0, 1]."""
    return F.avg_pool2d(video.float() / 255, 2)


def reconstruction_loss(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Squared error of both reconstructions, each relative to its target's variance (1: no better than a constant)."""
    return sum(F.mse_loss(outputs[m], targets[f"{m}_target"]) / targets[f"{m}_target"].var() for m in ("video", "audio"))


def autoencoder_loader(tensors: VideoAudioTensors, split: str, batch_size: int = BATCH_SIZE, shuffle: bool = False,
                       seed: int = 0, zero: str | None = None) -> DataLoader:
    """Batches of inputs (``zero``'s set to zero) and reconstruction targets ``video_target``, ``audio_target``."""
    clips = tensors.splits[split]
    inputs = {m: torch.zeros_like(clips[m]) if m == zero else clips[m] for m in ("video", "audio")}
    data = {**inputs, "video_target": autoencoder_targets(clips["video"]), "audio_target": clips["audio"]}
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(TensorDictDataset(data), batch_size=batch_size, shuffle=shuffle, generator=generator)


@torch.no_grad()
def codes(model: MultimodalAutoencoder, tensors: VideoAudioTensors, split: str,
          device: torch.device | None = None) -> Tensor:
    """The autoencoder's codes of every clip of a split: (N, code_dim)."""
    model.eval()
    loader = ablated_loader(tensors, split, model.modalities, [], batch_size=250)
    return torch.cat([model.encode({m: b[m].to(device) for m in model.modalities}).cpu() for b in loader])


def train_autoencoder(tensors: VideoAudioTensors, *, epochs: int = EPOCHS, seed: int = 0, lr: float = LEARNING_RATE,
                      batch_size: int = BATCH_SIZE, dim: int = EMBED_DIM, device: torch.device | None = None,
                      progress: bool = False) -> MethodResult:
    """Train :class:`MultimodalAutoencoder` without labels, then probe its codes.

    A logistic regression fitted on the training clips' codes predicts digit, motion and
    voice on the test clips (``<task>_accuracy``). ``reconstruction`` is the test loss of
    :func:`reconstruction_loss` with both inputs, ``audio_from_video`` the audio's part of it
    when the audio input is zeroed (the code must then rebuild the audio from the video).
    """
    device = device or config.get_device()
    config.seed_everything(seed)
    train = tensors.splits["train"]
    model = MultimodalAutoencoder(train["video"].shape[1], train["video"].shape[-1], train["audio"].shape[-1],
                                  n_mels=tensors.frontend.n_mels, dim=dim)
    targets = ["video_target", "audio_target"]
    result = _fit(model, autoencoder_loader(tensors, "train", batch_size, shuffle=True, seed=seed),
                  autoencoder_loader(tensors, "val", 250), loss_fn=reconstruction_loss,
                  score_fn=lambda outputs, y: -reconstruction_loss(outputs, y).item(), target_key=targets,
                  epochs=epochs, lr=lr, device=device, progress=progress)
    probe_scores = {}
    train_codes, test_codes = codes(model, tensors, "train", device), codes(model, tensors, "test", device)
    for task in ("digit", "motion", "voice"):
        probe = LogisticRegression(max_iter=2000).fit(train_codes.numpy(), train[task].numpy())
        probe_scores[f"{task}_accuracy"] = float(probe.score(test_codes.numpy(), tensors.splits["test"][task].numpy()))
    errors = {}
    for zero, key in ((None, "reconstruction"), ("audio", "audio_from_video")):
        outputs, y = predict(model, autoencoder_loader(tensors, "test", 250, zero=zero), device, target_key=targets)
        errors[key] = (reconstruction_loss(outputs, y).item() if zero is None else
                       (F.mse_loss(outputs["audio"], y["audio_target"]) / y["audio_target"].var()).item())
    row = {"method": "autoencoder", "name": "multimodal autoencoder + linear probe", "tasks": list(probe_scores),
           **probe_scores, **errors, **run_summary(model, result, epochs, seed, device)}
    return MethodResult(model, result, row)
