"""Contrastive alignment and cross-modal retrieval: the code of notebook 11 and its benchmark.

Two pairs of modalities, each aligned by two towers trained with the symmetric InfoNCE loss
(``course_lib.models.contrastive``) and nothing else:

- **image <-> speech on AV-Digits**: a handwritten digit and a spoken digit. The towers are
  the small CNNs of notebook 03 (``av_digits_fusion.make_encoder``). The digit labels are
  never in the loss (except in the ``mask_same_digit`` variant, which uses them to leave
  other pairs of the same digit out of the negatives). Zero-shot classification: each digit
  word spoken by voices that never occur in training (``spoken_prompts``) is embedded by the
  audio tower; a test image gets the digit whose prompts are closest::

      features = load_av_digits()
      result = train_av_digits(features, epochs=AV_EPOCHS, seed=0)
      prompts = spoken_prompts(features.frontend)
      av_scores(result.model, features, prompts)   # {"zero_shot": ..., "image_to_audio_mAP": ..., ...}

- **image <-> caption on Sort-of-CLEVR-Text**: a scene and its caption (every object's colour,
  shape and quadrant). The image tower reads the ``PaletteSlots`` summary of each palette colour
  (a fixed front end computed once, like the log-mel of the audio) with an MLP (``"slots"``), or
  learns from the pixels with ``SceneEncoder`` (``"cnn"``, far slower to train); the text tower is
  learned from scratch (``"scratch"``, word and position embeddings read by an MLP) or the frozen
  pretrained all-MiniLM-L6-v2 with a learned projection (``"locked"``, after "locked-image tuning",
  Zhai et al. 2022, here with the text side locked). Instance-level retrieval among the held-out scenes::

      data = load_captions()
      result = train_captions(data, "scratch", epochs=CAPTION_EPOCHS, seed=0)
      result.row   # {"pair": "image-caption", "method": "scratch", "caption_to_image_R@1": ..., ...}

The frozen text tower embeds each object's phrase ("a red square at the top left", always with
the article "a"; there are 48 distinct phrases) once with all-MiniLM-L6-v2, and a caption's embedding is the mean of its
six phrase embeddings: the same mean pooling a sentence embedding does, over phrases instead
of tokens, at a fraction of the cost of running the transformer over 10,000 captions.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from torch import Tensor, nn
from torch.utils.data import DataLoader

from course_lib import config
from course_lib.data import av_digits
from course_lib.data import sort_of_clevr as soc
from course_lib.data.tensors import tensor_loader
from course_lib.data.text import Vocabulary, pad_sequences
from course_lib.experiments import av_digits_fusion as avf
from course_lib.experiments.common import MethodResult, fit_adamw_cosine
from course_lib.features.audio import chunked
from course_lib.models.contrastive import (
    PaletteSlots,
    PositionalTokenEncoder,
    SceneEncoder,
    TwoTowerModel,
)
from course_lib.models.encoders import MLPEncoder
from course_lib.retrieval import (
    mean_average_precision,
    precision_at_k,
    recall_at_k,
    relevance,
)
from course_lib.train import run_summary

# ----------------------------------------------------------------------------- settings

AV_EPOCHS = 15
AV_EMBED_DIM = 32
AV_BATCH_SIZE = 128
AV_LR = 3e-3
#: (rate in words a minute, pitch) of the spoken prompts; every prompt voice says every digit at each.
PROMPT_SETTINGS: tuple[tuple[int, int], ...] = ((140, 40), (170, 50), (200, 60))
PROMPT_MIXES = 4  # noisy copies of each spoken prompt, as the dataset's clips are made
CAPTION_EPOCHS = 12
CAPTION_CNN_EPOCHS = 12  # the CNN from pixels (benchmark only: about 10 times slower an epoch)
CAPTION_EMBED_DIM = 64
CAPTION_BATCH_SIZE = 128
CAPTION_LR = 2e-3
TEXT_TOWERS: dict[str, str] = {
    "scratch": "text tower learned from scratch (word + position embeddings, MLP)",
    "locked": "frozen all-MiniLM-L6-v2 + learned projection (locked text)",
}
IMAGE_TOWERS: dict[str, str] = {
    "slots": "palette slots (fixed front end) + MLP",
    "cnn": "CNN from pixels (maps flattened) + MLP",
}
IMAGE_TOWER = "slots"
KS = (1, 5, 10)


def negative_loss(model: TwoTowerModel, use_labels: bool, block: int = 1000):
    """``(loss_fn, score_fn)`` for ``fit``: the model's contrastive loss (with the batch's ``label``
    as known positives when ``use_labels``), and as the score minus the mean loss over blocks of
    ``block`` consecutive pairs (a whole split at once would need an N x N matrix)."""

    def loss_fn(outputs: Mapping[str, Tensor], labels: Tensor) -> Tensor:
        return model.loss(outputs, labels if use_labels else None)

    @torch.no_grad()
    def score_fn(outputs: Mapping[str, Tensor], labels: Tensor) -> float:
        losses = [loss_fn({m: x[i : i + block] for m, x in outputs.items()}, labels[i : i + block]).item()
                  for i in range(0, len(labels), block)]
        return -float(np.mean(losses))

    return loss_fn, score_fn


@torch.no_grad()
def embed(model: TwoTowerModel, modality: str, x: Tensor, device: torch.device | None = None,
          batch_size: int = 500) -> Tensor:
    """One modality's inputs (N, ...) -> unit-length embeddings (N, D) on the CPU, ``batch_size`` at a time."""
    device = device or next(model.parameters()).device
    model.eval()
    return torch.cat([model.encode(modality, x[i : i + batch_size].to(device)).cpu()
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def tower_features(model: nn.Module, x: Tensor, device: torch.device | None = None, batch_size: int = 500) -> Tensor:
    """An encoder's outputs (N, out_dim) on the CPU (for a linear probe)."""
    device = device or next(model.parameters()).device
    model.eval()
    return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, c: float = 1.0) -> float:
    """Test accuracy of a logistic regression fitted on frozen features (each feature standardized
    with the training mean and deviation)."""
    mean, std = train_x.mean(dim=0), train_x.std(dim=0).clamp(min=1e-6)
    with threadpool_limits(limits=1):
        probe = LogisticRegression(C=c, max_iter=2000).fit(((train_x - mean) / std).numpy(), train_y.numpy())
        return float(probe.score(((test_x - mean) / std).numpy(), test_y.numpy()))


# ----------------------------------------------------------------------------- AV-Digits: image <-> speech


def load_av_digits(fast: bool | None = None) -> avf.AVDigitsFeatures:
    """AV-Digits with its log-mel spectrograms computed once (``av_digits_fusion.load_features``)."""
    return avf.load_features(fast=fast)


def build_av_model(embed_dim: int = AV_EMBED_DIM, temperature: float = 0.07,
                   learn_temperature: bool = True) -> TwoTowerModel:
    """Image and audio towers of notebook 03 (``make_encoder``), projected into ``embed_dim`` numbers."""
    return TwoTowerModel({m: avf.make_encoder(m) for m in ("image", "audio")}, embed_dim=embed_dim,
                         temperature=temperature, learn_temperature=learn_temperature)


def spoken_prompts(frontend: nn.Module, voices: Sequence[str] = av_digits.TEST_VOICES,
                   settings: Sequence[tuple[int, int]] = PROMPT_SETTINGS, mixes: int = PROMPT_MIXES,
                   noisy: bool = True, seed: int = 0) -> dict[str, Tensor]:
    """Every digit word spoken by every voice at every (rate, pitch) of ``settings``, as log-mel features.

    The voices default to AV-Digits' test voices, which never occur in training. With ``noisy``
    each utterance is placed in a one-second clip ``mixes`` times with background noise, a random
    onset and gain, exactly as the dataset's clips are made (``av_digits.mix_audio`` with the
    dataset's parameters); without it, once, clean and centred.

    Returns ``{"audio": (P, n_mels, T) log-mel by ``frontend``, "label": (P,) digit, "voice": (P,)
    index into ``voices``}``.
    """
    from course_lib.data.speech import synthesize

    params = av_digits.default_params(fast=False)
    takes, labels, voice_ids = [], [], []
    for v, voice in enumerate(voices):
        for digit, word in enumerate(av_digits.DIGIT_WORDS):
            for rate, pitch in settings:
                takes.append(synthesize(word, voice=voice, rate=rate, pitch=pitch,
                                        sample_rate=av_digits.SPEECH_SAMPLE_RATE))
                labels.append(digit)
                voice_ids.append(v)
    takes = av_digits.resample_all(takes, params["sample_rate"])
    clip_len = round(params["clip_seconds"] * params["sample_rate"])
    if noisy:
        index = np.repeat(np.arange(len(takes)), mixes)
        pcm = av_digits.mix_audio(takes, index, params, np.random.default_rng(seed))["audio"]
    else:
        index = np.arange(len(takes))
        pcm = np.zeros((len(takes), clip_len), dtype=np.float32)
        for row, take in enumerate(takes):
            take = take[:clip_len]
            start = (clip_len - len(take)) // 2
            pcm[row, start : start + len(take)] = take * 0.5 / max(np.abs(take).max(), 1e-6)
    return {"audio": chunked(frontend, pcm), "label": torch.tensor(labels)[index],
            "voice": torch.tensor(voice_ids)[index]}


def class_prototypes(embeddings: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(N, D) unit-length embeddings and their (N,) labels -> (num_classes, D): each class's mean, unit length."""
    sums = torch.zeros(num_classes, embeddings.shape[1]).index_add_(0, labels, embeddings)
    if (torch.bincount(labels, minlength=num_classes) == 0).any():
        raise ValueError("class_prototypes: every class needs at least one embedding")
    return nn.functional.normalize(sums, dim=-1)


def zero_shot_logits(model: TwoTowerModel, images: Tensor, prompts: Mapping[str, Tensor],
                     device: torch.device | None = None) -> Tensor:
    """Cosine similarity of each image to each digit's prompt prototype (the mean of its prompts' audio
    embeddings): (N, 10). Its argmax is the zero-shot prediction."""
    prototypes = class_prototypes(embed(model, "audio", prompts["audio"], device), prompts["label"],
                                  len(av_digits.DIGIT_WORDS))
    return embed(model, "image", images, device) @ prototypes.T


def av_scores(model: TwoTowerModel, features: avf.AVDigitsFeatures, prompts: Mapping[str, Tensor],
              device: torch.device | None = None, split: str = "test") -> dict[str, float]:
    """Zero-shot accuracy from the spoken prompts, and class-level retrieval both ways among a split's
    images and clips (a retrieved item is right when it shows / says the query's digit)."""
    data = features.splits[split]
    logits = zero_shot_logits(model, data["image"], prompts, device)
    images, audio = embed(model, "image", data["image"], device), embed(model, "audio", data["audio"], device)
    relevant = relevance(data["label"], data["label"])
    scores = {"zero_shot": (logits.argmax(1) == data["label"]).float().mean().item()}
    for name, similarity in (("image_to_audio", images @ audio.T), ("audio_to_image", audio @ images.T)):
        scores[f"{name}_P@10"] = precision_at_k(similarity, relevant, 10)
        scores[f"{name}_mAP"] = mean_average_precision(similarity, relevant)
    return scores


def train_av_digits(features: avf.AVDigitsFeatures, *, epochs: int = AV_EPOCHS, seed: int = 0,
                    mask_same_digit: bool = False, prompts: Mapping[str, Tensor] | None = None,
                    batch_size: int = AV_BATCH_SIZE, lr: float = AV_LR, temperature: float = 0.07,
                    learn_temperature: bool = True, device: torch.device | None = None,
                    progress: bool = False) -> MethodResult:
    """Align AV-Digits' images with their clips; with ``prompts`` the row holds the ``av_scores`` on the test split.

    The model keeps the weights of the epoch with the lowest validation loss (no labels used to
    choose it). ``mask_same_digit`` leaves the other pairs of the same digit out of each
    softmax's negatives: the loss then uses the digit labels.
    """
    device = device or config.get_device()
    config.seed_everything(seed)
    model = build_av_model(temperature=temperature, learn_temperature=learn_temperature)
    keys = ("image", "audio", "label")
    loss_fn, score_fn = negative_loss(model, use_labels=mask_same_digit)
    result = fit_adamw_cosine(model, features.loader("train", batch_size, shuffle=True, seed=seed, keys=keys),
                              features.loader("val", batch_size=1000, keys=keys), loss_fn=loss_fn, score_fn=score_fn,
                              epochs=epochs, lr=lr, device=device, progress=progress)
    row = {"pair": "image-speech", "method": "masked" if mask_same_digit else "plain",
           "signal": "pairs + digit labels (same-digit pairs masked)" if mask_same_digit else "pairs only",
           "temperature": model.temperature(), **run_summary(model, result, epochs, seed, device)}
    if prompts is not None:
        row.update(av_scores(model, features, prompts, device))
    return MethodResult(model, result, row)


# ----------------------------------------------------------------------------- Sort-of-CLEVR-Text: image <-> caption


@dataclass
class CaptionData:
    """Sort-of-CLEVR-Text scenes and captions as tensors, per split: ``image`` (N, 3, S, S) uint8,
    ``caption`` (N, L) token ids (0 = padding), ``phrases`` (N, K) index into ``phrase_texts``
    (each object's phrase), ``label`` (N,) index of the caption among the distinct captions (two
    scenes with the same caption share it), ``slots`` (N, C * 5) the ``PaletteSlots`` summary of each
    palette colour (computed once). ``captions`` holds each split's caption texts."""

    splits: dict[str, dict[str, Tensor]]
    captions: dict[str, list[str]]
    vocab: Vocabulary
    phrase_texts: list[str]

    def loader(self, split: str, text: str = "caption", image: str = "slots", batch_size: int = CAPTION_BATCH_SIZE,
               shuffle: bool = False, seed: int = 0) -> DataLoader:
        """Dict batches ``{"image", "text", "label"}`` taken from the split's ``image`` and ``text`` keys."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        tensors = self.splits[split]
        return tensor_loader({"image": tensors[image], "text": tensors[text], "label": tensors["label"]},
                             batch_size, shuffle, seed)


def load_captions(fast: bool | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> CaptionData:
    """Sort-of-CLEVR-Text's images and captions as tensors; the vocabulary comes from the training captions."""
    arrays = soc.load_arrays(fast=fast) if arrays is None else arrays
    captions = [str(c) for c in arrays["caption"]]
    train = arrays["image_split"] == soc.SPLITS.index("train")
    vocab = Vocabulary.build([c for c, t in zip(captions, train) if t])
    ids, _ = pad_sequences([vocab.encode(c) for c in captions], pad_id=vocab.pad_id)
    distinct: dict[str, int] = {}
    label = torch.tensor([distinct.setdefault(c, len(distinct)) for c in captions])
    phrase_texts: list[str] = []
    phrase_index: dict[str, int] = {}
    facts = soc.scene_facts(arrays["object_shape"], arrays["object_x"], arrays["object_y"], arrays["images"].shape[1])
    phrases = np.zeros(arrays["object_color"].shape, dtype=np.int64)
    for i, j in np.ndindex(phrases.shape):
        text = (f"a {arrays['color_names'][arrays['object_color'][i, j]]} {soc.SHAPES[arrays['object_shape'][i, j]]} "
                f"at the {soc.position_phrase(bool(facts['left'][i, j]), bool(facts['top'][i, j]))}")
        phrases[i, j] = phrase_index.setdefault(text, len(phrase_index))
        if phrases[i, j] == len(phrase_texts):
            phrase_texts.append(text)
    images = torch.from_numpy(np.ascontiguousarray(arrays["images"].transpose(0, 3, 1, 2)))
    front_end = PaletteSlots(torch.from_numpy(arrays["color_rgb"]))
    with torch.no_grad():
        slots = torch.cat([front_end(images[i : i + 500]).flatten(1) for i in range(0, len(images), 500)])
    slots = standardize(slots, torch.from_numpy(train))
    per_image = {"image": images, "slots": slots, "caption": ids, "phrases": torch.from_numpy(phrases), "label": label}
    splits, texts = {}, {}
    for index, split in enumerate(soc.SPLITS):
        rows = np.flatnonzero(arrays["image_split"] == index)
        splits[split] = {key: value[torch.from_numpy(rows)] for key, value in per_image.items()}
        texts[split] = [captions[r] for r in rows]
    return CaptionData(splits, texts, vocab, phrase_texts)


def standardize(x: Tensor, train: Tensor) -> Tensor:
    """Each column of ``x`` (N, F) minus its mean over the ``train`` rows, divided by their deviation."""
    mean, std = x[train].mean(dim=0), x[train].std(dim=0).clamp(min=1e-6)
    return (x - mean) / std


def add_locked_text(data: CaptionData, device: torch.device | str = "cpu") -> Tensor:
    """Embed every distinct phrase once with the frozen all-MiniLM-L6-v2 and give each split a
    ``"minilm"`` key: a caption's embedding (N, 384), the mean of its phrases' embeddings,
    standardized with the training captions' mean and deviation (captions differ by small
    shifts of a large shared vector; standardizing lets the projection see them).
    Returns the phrase embeddings (P, 384)."""
    from course_lib.features.text_encoder import embed_sentences

    phrase_embeddings = embed_sentences(data.phrase_texts, device=device).cpu()
    means = {split: phrase_embeddings[tensors["phrases"]].mean(dim=1) for split, tensors in data.splits.items()}
    mean, std = means["train"].mean(dim=0), means["train"].std(dim=0).clamp(min=1e-6)
    for split, tensors in data.splits.items():
        tensors["minilm"] = (means[split] - mean) / std
    return phrase_embeddings


def build_caption_model(text_tower: str, vocab_size: int, max_len: int, embed_dim: int = CAPTION_EMBED_DIM,
                        temperature: float = 0.07, image_tower: str = IMAGE_TOWER) -> TwoTowerModel:
    """For the image an MLP over the palette-slot summaries (``"slots"``) or ``SceneEncoder`` over the
    pixels (``"cnn"``); for the text ``PositionalTokenEncoder`` over the caption's ``max_len`` tokens
    learned from scratch (``"scratch"``) or an MLP over the frozen MiniLM embedding (``"locked"``)."""
    if text_tower == "scratch":
        text = PositionalTokenEncoder(vocab_size, max_len=max_len, embed_dim=16, out_dim=128)
    elif text_tower == "locked":
        text = MLPEncoder(384, out_dim=128, hidden=(256,), modality="text")
    else:
        raise ValueError(f"text_tower must be one of {list(TEXT_TOWERS)}, got {text_tower!r}")
    if image_tower not in IMAGE_TOWERS:
        raise ValueError(f"image_tower must be one of {list(IMAGE_TOWERS)}, got {image_tower!r}")
    image = (MLPEncoder(len(soc.COLORS) * 5, out_dim=128, hidden=(256,), modality="image") if image_tower == "slots"
             else SceneEncoder(out_dim=128))
    return TwoTowerModel({"image": image, "text": text}, embed_dim=embed_dim, temperature=temperature)


def caption_scores(model: TwoTowerModel, data: CaptionData, text_key: str, image_key: str = "slots", split: str = "test",
                   device: torch.device | None = None) -> dict[str, float]:
    """Instance-level Recall@1, 5, 10 both ways among a split's scenes (the right answer: the scene's
    own caption, or any scene with the very same caption)."""
    tensors = data.splits[split]
    images = embed(model, "image", tensors[image_key], device)
    texts = embed(model, "text", tensors[text_key], device)
    relevant = relevance(tensors["label"], tensors["label"])
    scores = {}
    for name, similarity in (("caption_to_image", texts @ images.T), ("image_to_caption", images @ texts.T)):
        for k in KS:
            scores[f"{name}_R@{k}"] = recall_at_k(similarity, relevant, k)
    return scores


def train_captions(data: CaptionData, text_tower: str = "scratch", *, epochs: int = CAPTION_EPOCHS, seed: int = 0,
                   batch_size: int = CAPTION_BATCH_SIZE, lr: float = CAPTION_LR, image_tower: str = IMAGE_TOWER,
                   device: torch.device | None = None, progress: bool = False) -> MethodResult:
    """Align scenes with their captions; the row holds ``caption_scores`` on the test split.

    Scenes that happen to have the same caption are known positives (left out of the negatives);
    the weights of the epoch with the lowest validation loss are kept.
    """
    if text_tower not in TEXT_TOWERS:
        raise ValueError(f"text_tower must be one of {list(TEXT_TOWERS)}, got {text_tower!r}")
    text_key = "minilm" if text_tower == "locked" else "caption"
    if text_key not in data.splits["train"]:
        raise ValueError("the locked text tower needs add_locked_text(data) first")
    device = device or config.get_device()
    config.seed_everything(seed)
    image_key = "slots" if image_tower == "slots" else "image"
    model = build_caption_model(text_tower, len(data.vocab), data.splits["train"]["caption"].shape[1],
                                image_tower=image_tower)
    loss_fn, score_fn = negative_loss(model, use_labels=True)
    result = fit_adamw_cosine(model, data.loader("train", text_key, image_key, batch_size, shuffle=True, seed=seed),
                              data.loader("val", text_key, image_key, batch_size=1000), loss_fn=loss_fn,
                              score_fn=score_fn, epochs=epochs, lr=lr, device=device, progress=progress)
    row = {"pair": "image-caption", "method": text_tower, "name": TEXT_TOWERS[text_tower], "image_tower": image_tower,
           "image_tower_name": IMAGE_TOWERS[image_tower],
           "signal": "pairs only", "temperature": model.temperature(),
           "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
           **run_summary(model, result, epochs, seed, device),
           **caption_scores(model, data, text_key, image_key, device=device), "test_size": len(data.splits["test"]["label"])}
    return MethodResult(model, result, row)
