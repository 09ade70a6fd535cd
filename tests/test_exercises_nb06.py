"""Notebook 06's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.data import sort_of_clevr as soc
from course_lib.data.text import Vocabulary
from course_lib.exercises import nb06
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.models import count_parameters

from exercise_checks import strict_fails


class TokenSum(nn.Module):
    """A stand-in VQA model: answer logits (B, Q, 10) pick answer (sum of token ids) mod 10; attention (B, Q, 100)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, inputs, return_attention: bool = False):
        question = inputs["question"]
        outputs = {"answer": self.scale * nn.functional.one_hot(question.sum(dim=-1) % 10, 10).float()}
        if return_attention:
            scores = question.float().sum(dim=-1, keepdim=True) * torch.linspace(0, 1, 100)  # (B, Q, 100)
            outputs["attention"] = scores.softmax(dim=-1)
        return outputs


def test_exercise_1(capsys, monkeypatch):
    vocab = Vocabulary.build(["Which shape does the object farthest from the grey item have?"])
    model, image = TokenSum(), torch.zeros(3, 75, 75)
    sentence = "Which shape does the grey item have?"
    answer = soc.ANSWERS[sum(vocab.encode(sentence)) % 10]
    assert nb06.exercise_1(sentence, answer, model, image, vocab)
    other = soc.ANSWERS[(soc.ANSWERS.index(answer) + 1) % 10]
    assert not nb06.exercise_1(sentence, other, model, image, vocab)
    assert f"the model answers {answer!r}" in capsys.readouterr().out
    assert not nb06.exercise_1("Which colour is the grey item?", answer, model, image, vocab)
    assert "not in the vocabulary: ['colour', 'is']" in capsys.readouterr().out
    assert not nb06.exercise_1(sentence, "maybe", model, image, vocab)
    assert not nb06.exercise_1(sentence, None, model, image, vocab)
    strict_fails(monkeypatch, nb06.exercise_1, sentence, other, model, image, vocab)


def _test_split(images: int = 150) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.zeros(images, 3, 8, 8), "question": torch.randint(0, 5, (images, 4, 3), generator=generator),
            "subtype": torch.randint(0, len(soc.SUBTYPES), (images, 4), generator=generator)}


def test_exercise_2(capsys, monkeypatch):
    model, test = TokenSum(), _test_split()
    weights = model(test, return_attention=True)["attention"].flatten(0, 1)
    entropy = -(weights * weights.log()).sum(dim=1)
    right = {name: entropy[test["subtype"].flatten() == k].mean().item() for k, name in enumerate(soc.SUBTYPES)}
    focused = min(right, key=right.get)
    assert nb06.exercise_2(right, focused, model, test)
    in_bits = {name: value / math.log(2) for name, value in right.items()}
    assert not nb06.exercise_2(in_bits, focused, model, test)
    assert "nats" in capsys.readouterr().out
    widest = max(right, key=right.get)
    assert not nb06.exercise_2(right, widest, model, test)
    assert "lowest mean entropy" in capsys.readouterr().out
    assert not nb06.exercise_2({"shape": 1.0}, focused, model, test)
    assert not nb06.exercise_2(None, focused, model, test)
    strict_fails(monkeypatch, nb06.exercise_2, in_bits, focused, model, test)


class Sharp(nn.Module):
    """Holds ``reasoner.reasoner.log_sharpness`` like the multitask model."""

    def __init__(self) -> None:
        super().__init__()
        self.reasoner = nn.Module()
        self.reasoner.reasoner = nn.Module()
        self.reasoner.reasoner.log_sharpness = nn.Parameter(torch.tensor(1.5))


def _fake_split_scores(model, data, split, device):
    """Every subtype at 1.0, but closest and furthest at 0.5 when the sharpness is near zero."""
    blunt = float(model.reasoner.reasoner.log_sharpness.detach()) < -10
    return {name: 0.5 if blunt and name in ("closest", "furthest") else 1.0 for name in soc.SUBTYPES}


def test_exercise_3(capsys, monkeypatch):
    monkeypatch.setattr(vqa, "split_scores", _fake_split_scores)
    model, trained = Sharp(), {name: 1.0 for name in soc.SUBTYPES}
    right = {name: 0.5 if name in ("closest", "furthest") else 1.0 for name in soc.SUBTYPES}
    assert nb06.exercise_3(right, ["closest", "furthest"], model, "data", trained)
    assert float(model.reasoner.reasoner.log_sharpness.detach()) == 1.5  # the check restores it
    assert not nb06.exercise_3(trained, ["closest", "furthest"], model, "data", trained)
    assert "without the bias the closest accuracy is 0.500" in capsys.readouterr().out
    assert not nb06.exercise_3(right, ["closest"], model, "data", trained)
    assert "broken should hold" in capsys.readouterr().out
    with torch.no_grad():
        model.reasoner.reasoner.log_sharpness.fill_(-20.0)
    assert not nb06.exercise_3(right, ["closest", "furthest"], model, "data", trained)
    assert "still -20" in capsys.readouterr().out
    assert not nb06.exercise_3(None, ["closest"], model, "data", trained)
    strict_fails(monkeypatch, nb06.exercise_3, right, ["closest"], Sharp(), "data", trained)


def test_exercise_4(capsys, monkeypatch):
    counts = {kind: count_parameters(vqa.build_model("cnn_mlp", 20, question_encoder=kind)) for kind in ("mean", "gru")}
    times = {"mean": 3.0, "gru": 5.0}
    assert nb06.exercise_4(counts, times, vocab_size=20)
    swapped = {"mean": counts["gru"], "gru": counts["mean"]}
    assert not nb06.exercise_4(swapped, times, vocab_size=20)
    assert "parameters" in capsys.readouterr().out
    assert not nb06.exercise_4(counts, {"mean": 3.0, "gru": -1.0}, vocab_size=20)
    assert not nb06.exercise_4(counts, {"mean": 3.0}, vocab_size=20)
    assert not nb06.exercise_4(None, times, vocab_size=20)
    strict_fails(monkeypatch, nb06.exercise_4, swapped, times, vocab_size=20)
