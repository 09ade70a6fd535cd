"""Checks of notebook 08's exercises (video features); each is called from the exercise's check cell."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from course_lib.exercises.core import NotYet, describe, exercise, fraction, require, require_keys

NUM_MOTIONS = 8
FRAME_MODELS = ("per-frame CNN + mean", "per-frame CNN + temporal conv", "R(2+1)D")
FLOW_SETTINGS = ("defaults", "winsize=5", "winsize=25", "levels=1")


@exercise("08", 1)
def exercise_1(max_accuracy: float, max_reversal: dict) -> str:
    fraction(max_accuracy, "max_accuracy")
    require_keys(max_reversal, ("forwards", "backwards", "same"), "max_reversal")
    forwards, backwards, same = (fraction(max_reversal[k], f"max_reversal[{k!r}]")
                                 for k in ("forwards", "backwards", "same"))
    require(same == 1.0,
            f"the max-pooled model should give the same prediction for every clip and its reversal, got {same:.3f}. "
            "Hint: reverse the frames (clips.flip(1)), not the pixels or the batch.")
    require(forwards + backwards <= 1 + 1e-9,
            f"forwards ({forwards:.3f}) plus backwards ({backwards:.3f}) accuracy exceeds 1, which an order-blind "
            "model cannot do. Hint: score the reversed clips against the swapped labels.")
    return f"same prediction both ways for every clip; {forwards:.3f} + {backwards:.3f} <= 1."


@exercise("08", 2)
def exercise_2(shuffled_accuracy: dict) -> str:
    require_keys(shuffled_accuracy, FRAME_MODELS, "shuffled_accuracy")
    for name, pair in shuffled_accuracy.items():
        require(isinstance(pair, tuple) and len(pair) == 2,
                f"shuffled_accuracy[{name!r}] should be a tuple (accuracy in order, accuracy shuffled), got {pair!r}.")
        for value in pair:
            fraction(value, f"each accuracy of shuffled_accuracy[{name!r}]")
    in_order, shuffled = shuffled_accuracy["per-frame CNN + mean"]
    require(abs(in_order - shuffled) <= 0.01,
            f"the mean-pooled model scored {in_order:.3f} in order and {shuffled:.3f} shuffled, but a mean over "
            "time does not depend on the order of the frames. Hint: permute each clip's frames (dim 1) only, "
            "and keep the clips and their labels in the same order.")
    return "the mean-pooled model does not notice the shuffle; compare how much the other two lose."


@exercise("08", 3)
def exercise_3(r3d_row: dict, widths: Sequence[int] = (8, 16)) -> str:
    from course_lib.models import count_parameters
    from course_lib.models.video import R2Plus1dClassifier

    require_keys(r3d_row, ("input", "model", "parameters", "accuracy", "seconds"), "r3d_row")
    expected = count_parameters(R2Plus1dClassifier(NUM_MOTIONS, widths=widths, conv="3d"))
    require(r3d_row["input"] == "frames", f"train the R3D on the frames (key 'video'), got input {r3d_row['input']!r}.")
    require(r3d_row["parameters"] == expected,
            f"the model has {r3d_row['parameters']:,} parameters, the R3D of widths {tuple(widths)} has {expected:,}. "
            "Hint: R2Plus1dClassifier(len(MOTIONS), widths=R21D_WIDTHS, conv=\"3d\").")
    fraction(r3d_row["accuracy"], "r3d_row['accuracy']")
    return f"R3D: {expected:,} parameters, test accuracy {r3d_row['accuracy']:.3f}."


@exercise("08", 4)
def exercise_4(flow_errors: dict) -> str:
    require_keys(flow_errors, FLOW_SETTINGS, "flow_errors")
    for setting, value in flow_errors.items():
        require(isinstance(value, float) and math.isfinite(value) and 0 < value < 20,
                f"flow_errors[{setting!r}] should be a median error in pixels (a positive float), got {value!r}.")
    require(len(set(flow_errors.values())) > 1,
            "every setting gives the same error: the keyword arguments did not reach farneback_flow. "
            "Hint: farneback_flow(frames, winsize=5).")
    best = min(flow_errors, key=flow_errors.get)
    return f"smallest median error with {best}: {flow_errors[best]:.2f} pixels."


@exercise("08", 5)
def exercise_5(two_stream_probs: torch.Tensor, two_stream_accuracy: float, labels: torch.Tensor) -> str:
    require(isinstance(two_stream_probs, torch.Tensor) and two_stream_probs.shape == (len(labels), NUM_MOTIONS),
            f"two_stream_probs should be a tensor of shape ({len(labels)}, {NUM_MOTIONS}), one row of class "
            f"probabilities per test clip, got {describe(two_stream_probs)}.")
    probs = two_stream_probs.detach().float().cpu()
    if probs.min() < 0 or not torch.allclose(probs.sum(dim=1), torch.ones(len(probs)), atol=1e-4):
        raise NotYet("each row of two_stream_probs should be probabilities that sum to 1. "
                     "Hint: average logits.softmax(1) of the two models, not the logits.")
    expected = (probs.argmax(dim=1) == labels.cpu()).float().mean().item()
    accuracy = fraction(two_stream_accuracy, "two_stream_accuracy")
    require(abs(accuracy - expected) < 1e-6,
            f"two_stream_accuracy is {accuracy:.4f}, but the averaged probabilities score {expected:.4f} on the "
            "labels. Hint: (probs.argmax(1) == labels).float().mean().")
    return f"two streams: {expected:.3f}."
