"""Checks of notebook 12's exercises: scaling efficiency, gradient accumulation, host reads."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises.core import close, exercise, require
from course_lib.train import train_one_epoch

#: tensor methods that copy a value to the host (not ``.to("cpu")`` and others)
HOST_READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__")


@exercise("12", 1)
def exercise_1(efficiency: float, table: Mapping) -> str:
    """``efficiency``: the 2-process scaling efficiency of ``"av_digits_video"`` on the CPU, as a fraction."""
    rows = {row["processes"]: row for row in table["rows"]
            if row["model"] == "av_digits_video" and row["device"] == "cpu"}
    reference = rows[2]["samples_per_second"] / (2 * rows[1]["samples_per_second"])
    if abs(float(efficiency) - 100 * reference) < 1e-6:
        close(efficiency, reference, "efficiency", 1e-9, "give a fraction (0.75), not a percentage (75).")
    close(efficiency, reference, "efficiency", 1e-9,
          "divide the 2-process throughput by 2 x the 1-process throughput (samples per second, not seconds).")
    close(efficiency, rows[2]["scaling_efficiency"], "efficiency", 1e-9, "the table's scaling_efficiency column.")
    return f"{100 * reference:.0f} %, as the table says."


@exercise("12", 2)
def exercise_2(accumulated: nn.Module, large: nn.Module, steps_taken: int, batches: int) -> str:
    """``accumulated``: trained on batches of 16 with ``accumulate=4``, ``large`` on batches of 64;
    ``steps_taken``: optimizer steps of the first, ``batches``: its number of batches."""
    require(int(batches) > 0 and int(batches) % 4 == 0,
            f"batches is {batches}: train on a start of the split that splits into whole batches of 64.")
    require(int(steps_taken) == int(batches) // 4,
            f"{steps_taken} optimizer steps for {batches} batches: accumulate=4 steps once per 4 batches. "
            "Hint: pass accumulate=4 through **options to fit.")
    first, second = accumulated.state_dict(), large.state_dict()
    require(first.keys() == second.keys(), "the two models should have the same layers: both scale.FlatFusion.")
    gap = max((first[k] - second[k]).abs().max().item() for k in first)
    require(gap < 1e-5,
            f"the weights differ by up to {gap:.1e}: the accumulated step should equal the step of the 4 times "
            "larger batch. Hint: the same seed, the same samples in the same order (no shuffling).")
    return f"{steps_taken} steps for {batches} batches; weights equal to {gap:.1e}."


def _count_host_reads(run: Callable[[], object]) -> tuple[int, object]:
    """Call ``run()`` and count the tensor methods it calls that copy a value to the host -> (count, result)."""
    calls, originals = [], {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def spy(name: str):
        def wrapper(self, *args, **kwargs):
            calls.append(name)
            return originals[name](self, *args, **kwargs)
        return wrapper

    for name in HOST_READS:
        setattr(torch.Tensor, name, spy(name))
    try:
        result = run()
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
    return len(calls), result


class _Tiny(nn.Module):
    """{"x": (B, 4)} -> logits (B, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(batch["x"])


def _setup(steps: int) -> tuple[nn.Module, torch.optim.Optimizer, list[dict]]:
    """A seeded tiny model, its SGD optimizer and ``steps`` batches of 8 random samples."""
    generator = torch.Generator().manual_seed(0)
    batches = [{"x": torch.randn(8, 4, generator=generator), "label": torch.randint(0, 3, (8,), generator=generator)}
               for _ in range(steps)]
    with torch.random.fork_rng():  # leave the notebook's random state as it was
        torch.manual_seed(0)
        model = _Tiny()
    return model, torch.optim.SGD(model.parameters(), lr=0.05), batches


def _reference_mean(steps: int) -> float:
    """The mean loss of ``steps`` steps on ``_setup(steps)``, from the course's training loop (the reference)."""
    model, optimizer, batches = _setup(steps)
    return train_one_epoch(model, batches, F.cross_entropy, optimizer, torch.device("cpu"))["loss"]


@exercise("12", 3)
def exercise_3(quiet_epoch: Callable) -> str:
    """``quiet_epoch(model, optimizer, batches)`` -> the epoch's mean loss, with a fixed number of host reads."""
    require(callable(quiet_epoch), "quiet_epoch should be a function (model, optimizer, batches) -> mean loss.")
    four, eight = _setup(4), _setup(8)
    reads_4, _ = _count_host_reads(lambda: quiet_epoch(*four))
    reads_8, mean_8 = _count_host_reads(lambda: quiet_epoch(*eight))
    require(reads_4 == reads_8,
            f"quiet_epoch read the device {reads_4} times for 4 steps and {reads_8} for 8. Hint: keep each loss on "
            "the device (loss.detach()) and read their mean once, after the loop.")
    close(mean_8, _reference_mean(8), "the mean loss of 8 steps", 1e-5,
          "return the mean of the epoch's losses, as chatty_epoch does: torch.stack(losses).mean().item().")
    return f"{reads_8} host read(s) an epoch, whatever the number of steps."
