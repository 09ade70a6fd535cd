"""Notebook 01's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

from course_lib.exercises import nb01

from exercise_checks import strict_fails


def test_exercise_1(capsys, monkeypatch):
    scales = torch.tensor([1.0, 5.0, 20.0])[:, None, None]
    batch = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * scales
    dims = (0, 2, 3)
    right = (batch - batch.mean(dim=dims, keepdim=True)) / batch.std(dim=dims, keepdim=True)
    assert nb01.exercise_1(right, batch)
    whole = (batch - batch.mean()) / batch.std()  # one mean and std for all channels
    assert not nb01.exercise_1(whole, batch)
    assert "dims (0, 2, 3)" in capsys.readouterr().out
    assert not nb01.exercise_1(right[:8], batch)
    assert not nb01.exercise_1(None, batch)
    assert "no answer yet" in capsys.readouterr().out
    strict_fails(monkeypatch, nb01.exercise_1, whole, batch)


def test_exercise_2(capsys, monkeypatch):
    logits = torch.tensor([[2.0, 0.1], [0.3, 1.5], [0.9, 0.2]])
    labels = torch.tensor([0, 1, 1])
    assert nb01.exercise_2(logits.argmax(dim=1) == labels)
    buggy = logits.argmax(dim=1, keepdim=True) == labels
    assert not nb01.exercise_2(buggy)
    assert "keepdim" in capsys.readouterr().out
    assert not nb01.exercise_2(torch.tensor([True, True, True]))
    assert not nb01.exercise_2(None)
    strict_fails(monkeypatch, nb01.exercise_2, buggy)


def test_exercise_3(capsys, monkeypatch):
    vectors = torch.tensor([[[-1.0, 2.0], [-3.0, 1.0], [0.0, 0.0]],
                            [[-2.0, -1.0], [0.0, 0.0], [0.0, 0.0]]])  # (2, 3, 2), zeros at the padding
    mask = torch.tensor([[True, True, False], [True, False, False]])
    right = torch.tensor([[-1.0, 2.0], [-2.0, -1.0]])
    assert nb01.exercise_3(right, vectors, mask)
    assert not nb01.exercise_3(vectors.amax(dim=1), vectors, mask)
    assert "plain max" in capsys.readouterr().out
    assert not nb01.exercise_3(right[:1], vectors, mask)
    assert not nb01.exercise_3(None, vectors, mask)
    strict_fails(monkeypatch, nb01.exercise_3, vectors.amax(dim=1), vectors, mask)


def test_exercise_4(capsys, monkeypatch):
    x = torch.linspace(-6, 6, 200, requires_grad=True)
    (x * torch.sin(x)).sum().backward()
    assert nb01.exercise_4(x.grad)
    assert not nb01.exercise_4(torch.sin(x.detach()))  # the product rule's second term missing
    assert "backward" in capsys.readouterr().out
    assert not nb01.exercise_4(x.grad[:100])
    assert not nb01.exercise_4(None)
    strict_fails(monkeypatch, nb01.exercise_4, torch.sin(x.detach()))


def right_collate(samples):
    audio = [sample["audio"] for sample in samples]
    lengths = torch.tensor([len(clip) for clip in audio])
    padded = pad_sequence(audio, batch_first=True)
    return {"audio": padded, "audio_mask": torch.arange(padded.shape[1]) < lengths[:, None],
            "label": torch.stack([sample["label"] for sample in samples])}


def test_exercise_5(capsys, monkeypatch):
    clips = [torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in (7, 4, 9)]
    assert nb01.exercise_5(right_collate, clips)

    def no_mask(samples):
        batch = right_collate(samples)
        return {"audio": batch["audio"], "label": batch["label"]}

    def inverted_mask(samples):
        batch = right_collate(samples)
        return {**batch, "audio_mask": ~batch["audio_mask"]}

    assert not nb01.exercise_5(no_mask, clips)
    assert "audio_mask" in capsys.readouterr().out
    assert not nb01.exercise_5(inverted_mask, clips)
    assert "True at the real samples" in capsys.readouterr().out
    assert not nb01.exercise_5(None, clips)
    strict_fails(monkeypatch, nb01.exercise_5, inverted_mask, clips)
