"""Notebook 11's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import nb11
from course_lib.experiments.contrastive import zero_shot_logits
from course_lib.models.contrastive import TwoTowerModel, contrastive_loss
from course_lib.retrieval import recall_at_k

from exercise_checks import strict_fails


def _embeddings(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(n, 8, generator=generator), dim=1)
    clips = F.normalize(images + 0.9 * torch.randn(n, 8, generator=generator), dim=1)
    return images, clips


def test_exercise_1(capsys, monkeypatch):
    images, clips = _embeddings()
    similarity, partner_only = images @ clips.T, torch.eye(len(images), dtype=torch.bool)
    right = recall_at_k(similarity, partner_only, 5)
    assert recall_at_k(similarity, partner_only, 4) != right
    assert nb11.exercise_1(right, similarity, partner_only)
    assert not nb11.exercise_1(recall_at_k(similarity, partner_only, 4), similarity, partner_only)
    assert "Recall@4" in capsys.readouterr().out
    assert not nb11.exercise_1(1.0, similarity, partner_only)
    assert "partner" in capsys.readouterr().out
    assert not nb11.exercise_1(None, similarity, partner_only)
    strict_fails(monkeypatch, nb11.exercise_1, 1.0, similarity, partner_only)


class Tower(nn.Linear):
    """(B, 6) -> (B, 5), with the out_dim that TwoTowerModel asks for."""

    def __init__(self) -> None:
        super().__init__(6, 5)
        self.out_dim = 5


def test_exercise_2(capsys, monkeypatch):
    torch.manual_seed(0)
    model = TwoTowerModel({"image": Tower(), "audio": Tower()}, embed_dim=4)
    generator = torch.Generator().manual_seed(1)
    test = {"image": torch.randn(30, 6, generator=generator), "label": torch.randint(0, 10, (30,), generator=generator)}
    prompts = {"audio": torch.randn(40, 6, generator=generator), "label": torch.arange(40) % 10,
               "voice": torch.arange(40) // 20}  # two voices, each saying every digit twice
    single = []
    for v in (0, 1):
        keep = prompts["voice"] == v
        voice = {"audio": prompts["audio"][keep], "label": prompts["label"][keep]}
        logits = zero_shot_logits(model, test["image"], voice)
        single.append((logits.argmax(1) == test["label"]).float().mean().item())
    ensemble = (zero_shot_logits(model, test["image"], prompts).argmax(1) == test["label"]).float().mean().item()
    assert nb11.exercise_2(single, model, test, prompts)
    assert not nb11.exercise_2([ensemble + 0.5, single[1]], model, test, prompts)
    assert "prompts['voice']" in capsys.readouterr().out
    assert not nb11.exercise_2(single[:1], model, test, prompts)
    assert not nb11.exercise_2(None, model, test, prompts)
    strict_fails(monkeypatch, nb11.exercise_2, single[:1], model, test, prompts)


def test_exercise_3(capsys, monkeypatch):
    images, clips = _embeddings()
    temperature = 0.1
    logit_scale = torch.tensor(np.log(1 / temperature), requires_grad=True)
    loss = contrastive_loss(images, clips, logit_scale.exp())
    loss.backward()
    assert nb11.exercise_3(loss, logit_scale.grad.item(), images, clips, temperature)
    as_t = torch.tensor(temperature, requires_grad=True)  # the derivative with respect to T instead
    contrastive_loss(images, clips, 1 / as_t).backward()
    assert not nb11.exercise_3(loss, as_t.grad.item(), images, clips, temperature)
    assert "log(1/T)" in capsys.readouterr().out
    assert not nb11.exercise_3(loss.item() + 0.5, logit_scale.grad.item(), images, clips, temperature)
    assert not nb11.exercise_3(loss, float("nan"), images, clips, temperature)
    assert not nb11.exercise_3(loss, None, images, clips, temperature)
    strict_fails(monkeypatch, nb11.exercise_3, loss, as_t.grad.item(), images, clips, temperature)
