"""Checks of notebook 09's exercises (audio-video fusion with TCNs).

Each check recomputes its reference (receptive fields, a masked mean, attention outputs) on small
random inputs, so it holds in fast and full mode alike and needs no trained model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from course_lib.exercises.core import NotYet, exercise, require
from course_lib.models.tcn import receptive_field
from course_lib.models.temporal_fusion import TemporalAttentionFusion


@exercise("09", 1)
def exercise_1(levels_needed: int, reached: int) -> str:
    """``levels_needed``: fewest levels of a kernel-5 TCN whose last output sees 64 steps;
    ``reached``: inputs (of 64) the last output of a 3-level kernel-5 TCN depends on, measured."""
    for name, value in (("levels_needed", levels_needed), ("reached", reached)):
        require(isinstance(value, int) and not isinstance(value, bool), f"{name} should be an int, got {value!r}.")
    expected = next(level for level in range(1, 10) if receptive_field(5, level) >= 64)
    require(levels_needed == expected,
            f"levels_needed is {levels_needed}, but receptive_field(5, {levels_needed}) = "
            f"{receptive_field(5, levels_needed) if levels_needed > 0 else 0}. "
            "Hint: find the smallest L with 1 + 2 * 4 * (2**L - 1) >= 64.")
    require(reached == receptive_field(5, 3),
            f"reached is {reached}; a 3-level kernel-5 TCN should reach receptive_field(5, 3) = {receptive_field(5, 3)} "
            "inputs. Hint: sum the gradient over a batch of several random inputs (a ReLU unit that is off for "
            "one input passes no gradient) before counting the steps where it is not zero.")
    return f"{levels_needed} levels (receptive field {receptive_field(5, expected)}); 3 levels reach {reached}."


@exercise("09", 2)
def exercise_2(masked_mean: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``masked_mean(per_clip (B,), kept (B,) bool) -> ()``: the mean over the kept clips, 0 when none is kept."""
    require(callable(masked_mean), f"masked_mean should be a function, got {type(masked_mean).__name__}.")
    generator = torch.Generator().manual_seed(9)
    per_clip = torch.rand(6, generator=generator)
    cases = {"some clips kept": torch.tensor([True, False, True, True, False, True]),
             "every clip kept": torch.ones(6, dtype=torch.bool), "no clip kept": torch.zeros(6, dtype=torch.bool)}
    for case, kept in cases.items():
        expected = per_clip[kept].mean().item() if kept.any() else 0.0
        try:
            value = float(masked_mean(per_clip, kept))
        except Exception as error:  # the learner's function failed: say how
            raise NotYet(f"masked_mean raised {type(error).__name__}: {error} ({case}).") from None
        require(abs(value - expected) < 1e-6,
                f"masked_mean gives {value:.4f} with {case}, expected {expected:.4f}. Hint: "
                "(per_clip * kept).sum() / kept.sum().clamp(min=1), with kept turned into floats.")
    return "a dropped clip adds nothing, and a batch with no clip left adds 0, not NaN."


@exercise("09", 3)
def exercise_3(unchanged: Mapping[bool, bool]) -> str:
    """``unchanged``: ``{time_codes: whether TemporalAttentionFusion's output stays the same when the video
    frames are shuffled}`` for ``time_codes`` False and True."""
    require(isinstance(unchanged, Mapping) and set(unchanged) == {False, True},
            "unchanged should be a dict with the keys False and True (the value of time_codes).")
    require(all(isinstance(v, bool) for v in unchanged.values()),
            "each value should be a bool: does the output stay the same? Hint: torch.allclose(...) returns a bool.")
    torch.manual_seed(0)
    sequences = {"video": torch.randn(1, 16, 8), "audio": torch.randn(1, 64, 8)}
    shuffled = {"video": sequences["video"][:, torch.randperm(16)], "audio": sequences["audio"]}
    for codes in (False, True):
        fusion = TemporalAttentionFusion({"video": 8, "audio": 8}, dim=8, time_codes=codes).eval()
        with torch.no_grad():
            same = torch.allclose(fusion(sequences), fusion(shuffled), atol=1e-5)
        require(unchanged[codes] == same,
                f"with time_codes={codes} the output {'stays the same' if same else 'changes'} when the frames are "
                "shuffled. Hint: without time codes the weighted sum does not know the order of the steps.")
    return "without time codes attention pools a set of steps; with them it knows when each step happens."
