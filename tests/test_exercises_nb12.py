"""Notebook 12's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import nb12

from exercise_checks import strict_fails


def _row(model: str, processes: int, samples_per_second: float, efficiency: float) -> dict:
    return {"model": model, "device": "cpu", "processes": processes, "samples_per_second": samples_per_second,
            "scaling_efficiency": efficiency}


TABLE = {"rows": [_row("av_digits_video", 1, 100.0, 1.0), _row("av_digits_video", 2, 150.0, 0.75),
                  _row("av_digits", 2, 90.0, 0.46)]}


def test_exercise_1(capsys, monkeypatch):
    assert nb12.exercise_1(0.75, TABLE)
    assert not nb12.exercise_1(75.0, TABLE)
    assert "fraction" in capsys.readouterr().out
    assert not nb12.exercise_1(1.5, TABLE)  # the speed-up, not the efficiency
    assert "2 x the 1-process" in capsys.readouterr().out
    assert not nb12.exercise_1(None, TABLE)
    strict_fails(monkeypatch, nb12.exercise_1, 1.5, TABLE)


def _linear(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 2)


def test_exercise_2(capsys, monkeypatch):
    accumulated, large = _linear(0), _linear(0)
    assert nb12.exercise_2(accumulated, large, 54, 216)
    assert not nb12.exercise_2(accumulated, large, 216, 216)
    assert "accumulate=4" in capsys.readouterr().out
    assert not nb12.exercise_2(accumulated, _linear(1), 54, 216)
    assert "same seed" in capsys.readouterr().out
    assert not nb12.exercise_2(accumulated, large, 54, 215)
    assert not nb12.exercise_2(accumulated, large, None, 216)
    strict_fails(monkeypatch, nb12.exercise_2, accumulated, _linear(1), 54, 216)


def _steps(model, optimizer, batches):
    """One SGD step per batch, yielding each step's loss (a tensor on the device)."""
    for batch in batches:
        loss = F.cross_entropy(model(batch), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        yield loss


def quiet_epoch(model, optimizer, batches):  # the right answer: one host read an epoch
    return torch.stack([loss.detach() for loss in _steps(model, optimizer, batches)]).mean().item()


def chatty_epoch(model, optimizer, batches):  # reads every loss at once
    losses = [loss.item() for loss in _steps(model, optimizer, batches)]
    return sum(losses) / len(losses)


def last_loss_epoch(model, optimizer, batches):  # one read, but of the wrong number
    *_, loss = _steps(model, optimizer, batches)
    return loss.item()


def test_exercise_3(capsys, monkeypatch):
    state = torch.random.get_rng_state()
    assert nb12.exercise_3(quiet_epoch)
    assert torch.equal(torch.random.get_rng_state(), state), "a check must not move the global random state"
    assert "1 host read" in capsys.readouterr().out
    assert not nb12.exercise_3(chatty_epoch)
    assert "loss.detach()" in capsys.readouterr().out
    assert not nb12.exercise_3(last_loss_epoch)
    assert "mean of the epoch's losses" in capsys.readouterr().out
    assert not nb12.exercise_3(None)
    strict_fails(monkeypatch, nb12.exercise_3, chatty_epoch)
