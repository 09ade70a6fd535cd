"""Checks of notebook 02's exercises: flipping scenes and questions, flicker, a video pipeline, a time shift."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from course_lib.exercises.core import exercise, require


@exercise("02", 1)
def exercise_1(flip_question: Callable[[str], str], correct: int, kept: Sequence[str],
               clevr_arrays: Mapping[str, np.ndarray]) -> str:
    """``flip_question`` swaps "left" and "right"; ``correct``: horizontal training questions whose stored answer
    holds for the flipped pair; ``kept``: the scene facts a flip leaves unchanged."""
    from course_lib.data import sort_of_clevr

    pairs = {"Is the red object on the left side of the image?": "Is the red object on the right side of the image?",
             "Is the blue object on the right side of the image?": "Is the blue object on the left side of the image?",
             "What shape is the green object?": "What shape is the green object?"}
    for question, flipped in pairs.items():
        got = flip_question(question)
        require(got == flipped, f"flip_question({question!r}) gave {got!r}, expected {flipped!r}. Hint: swap both "
                                "words in one pass (re.sub with a function), or the second swap undoes the first.")
    horizontal = sort_of_clevr.SUBTYPES.index("horizontal")
    in_train = clevr_arrays["image_split"][clevr_arrays["question_image"]] == 0
    total = int(((clevr_arrays["subtype"] == horizontal) & in_train).sum())
    require(int(correct) == total,
            f"correct is {correct}, but there are {total} horizontal training questions and every stored answer "
            "holds for the flipped image and question. Hint: a flip sends x to 74 - x, and the object is on the "
            "left when x < 37.")
    train = clevr_arrays["image_split"] == 0
    shapes, xs, ys = (clevr_arrays[key][train] for key in ("object_shape", "object_x", "object_y"))
    before = sort_of_clevr.scene_facts(shapes, xs, ys, 75)
    after = sort_of_clevr.scene_facts(shapes, 74 - xs, ys, 75)
    reference = [fact for fact in before if np.array_equal(before[fact], after[fact])]
    require(sorted(kept) == sorted(reference),
            f"kept is {sorted(kept)}, expected {sorted(reference)}. Hint: compare sort_of_clevr.scene_facts of the "
            "training scenes before and after x -> 74 - x, fact by fact.")
    return f"{total} of {total} answers hold after the flip; a mirror keeps {', '.join(reference)}."


@exercise("02", 2)
def exercise_2(ratios: Mapping[str, Sequence[float]]) -> str:
    """``ratios`` = {"per frame": [...], "per clip": [...]}: the flicker of 20 jittered clips / the original's."""
    require(isinstance(ratios, Mapping) and set(ratios) == {"per frame", "per clip"},
            "ratios should be a dict with the keys 'per frame' and 'per clip'.")
    for name, values in ratios.items():
        require(len(values) == 20 and all(np.isfinite(v) and v > 0 for v in values),
                f"ratios[{name!r}] should hold 20 positive ratios, one per seed; got {len(values)}.")
    frame, whole = np.median(ratios["per frame"]), np.median(ratios["per clip"])
    require(frame > 2,
            f"the per-frame median is {frame:.2f}, expected above 2. Hint: call the jitter on each frame in a loop, "
            "so that every frame draws its own brightness.")
    require(whole < 1.5 and frame > 1.5 * whole,
            f"the per-clip median is {whole:.2f} (per frame {frame:.2f}): one brightness for the whole clip should "
            "not flicker. Hint: ConsistentVideoTransform(jitter)(clip).")
    return f"per frame {frame:.1f} x the original's flicker, per clip {whole:.1f} x."


@exercise("02", 3)
def exercise_3(video_mean: torch.Tensor, video_std: torch.Tensor, fifty: torch.Tensor, video_train) -> str:
    """``video_mean``, ``video_std``: the training clips' channel statistics; ``fifty`` (50, T, C, 32, 32):
    50 training clips cropped and standardized by the pipeline."""
    from course_lib.data.transforms import channel_mean_std

    mean, std = channel_mean_std(video_train, key="video")
    for name, answer, reference in (("video_mean", video_mean, mean), ("video_std", video_std, std)):
        require(isinstance(answer, torch.Tensor) and answer.shape == reference.shape
                and torch.allclose(answer, reference, atol=1e-5),
                f"{name} should be {reference.tolist()}. Hint: channel_mean_std(video_train, key='video').")
    require(isinstance(fifty, torch.Tensor) and fifty.ndim == 5 and len(fifty) == 50 and fifty.shape[-2:] == (32, 32),
            f"fifty should stack 50 clips (50, T, C, 32, 32), got "
            f"{tuple(fifty.shape) if isinstance(fifty, torch.Tensor) else type(fifty).__name__}.")
    m, s = fifty.mean().item(), fifty.std(correction=0).item()
    require(abs(m) < 0.25 and abs(s - 1) < 0.25,
            f"the 50 clips have mean {m:.3f} and std {s:.3f}, expected near 0 and 1. Hint: Normalize with the "
            "training mean and std after the crop, inside one ConsistentVideoTransform.")
    return f"mean {m:.3f}, std {s:.3f}: near 0 and 1, not exactly."


@exercise("02", 4)
def exercise_4(random_time_shift: type, shifted: torch.Tensor, lag: int, frame_lag: int, phrase: torch.Tensor) -> str:
    """``random_time_shift``: the RandomTimeShift class; ``shifted`` = RandomTimeShift(1600)(phrase); ``lag``: the
    recovered shift in samples; ``frame_lag``: the shift in frames that best aligns the log-mel spectrograms."""
    signals = torch.stack([torch.arange(50.0), -torch.arange(50.0)])  # (2, 50): a batch of two waveforms
    draws = set()
    with torch.random.fork_rng():  # leave the notebook's random state as it was
        torch.manual_seed(0)
        for _ in range(40):
            out = random_time_shift(3)(signals)
            require(out.shape == (2, 50), f"RandomTimeShift changed the shape (2, 50) into {tuple(out.shape)}.")
            matches = [s for s in range(-3, 4) if torch.equal(out, torch.roll(signals, s, dims=-1))]
            require(bool(matches), "RandomTimeShift(3) should roll the last axis by a shift in [-3, 3]. "
                                   "Hint: torch.roll(waveform, shifts=shift, dims=-1).")
            draws.add(matches[0])
    require(len(draws) > 3, f"RandomTimeShift(3) drew only the shifts {sorted(draws)} in 40 calls. Hint: draw a "
                            "new shift in every forward call, e.g. torch.randint(-max_shift, max_shift + 1, ()).")
    require(isinstance(shifted, torch.Tensor) and torch.equal(torch.roll(phrase, int(lag)), shifted),
            "torch.roll(phrase, lag) should give shifted back. Hint: try every lag in [-1600, 1600] and keep the "
            "one whose dot product with shifted is largest.")
    require(abs(int(frame_lag) - int(lag) / 160) <= 1,
            f"frame_lag is {frame_lag}, but a shift of {lag} samples is {int(lag) / 160:.1f} frames of 160 samples. "
            "Hint: roll the original spectrogram along its time axis (dims=1) and keep the best match.")
    return f"a shift of {lag} samples moved the spectrogram by {frame_lag} frames."
