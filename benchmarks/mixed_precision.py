"""Mixed precision on notebook 10's model: float32, TF32, bfloat16 and float16 autocast, timed.

    python benchmarks/mixed_precision.py                  # on cuda when available, else on the CPU
    python benchmarks/mixed_precision.py --device cpu --threads 1

The model is notebook 10's: AV-Digits intermediate fusion (``avf.build_model("concat")``) inside
``ModalityDropoutModel(p=0.3)``, freshly initialized with seed 0. The inputs are synthetic, of
AV-Digits' shapes (image (B, 1, 28, 28) in [0, 1], normalized log-mel (B, 32, 51)), so that no
dataset is needed. For each precision and batch size it times

- **inference**: one forward pass under ``torch.inference_mode()``;
- **a training step**: forward, cross-entropy, backward and an Adam step (float16 with a
  ``torch.amp.GradScaler``; the weights and the optimizer stay in float32 in every row);

each the median of ``--repeats`` timed calls after ``--warmup`` untimed ones (and two seconds of
untimed work before the first row), every call ending with ``torch.cuda.synchronize()`` on a GPU.
The last column is the largest absolute difference of the logits (largest batch, eval mode) from full
float32 (TF32 off).

Precisions on a GPU: float32 with TF32 off, float32 with PyTorch's defaults (TF32 allowed for cuDNN
convolutions, not for matrix products), float32 with TF32 on for both, bfloat16 and float16 autocast.
On a CPU the TF32 flags do nothing, so there: float32 and bfloat16 autocast. Writes
``benchmarks/results/mixed_precision_<device>.md`` and ``.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib import config
from course_lib.experiments import av_digits_fusion as avf
from course_lib.export import median_latency
from course_lib.models.modality_dropout import ModalityDropoutModel
from course_lib.train import autocast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
TIME_STEPS = 51  # log-mel frames of a one-second clip (avf.HOP_LENGTH)
BATCH_SIZES = {"cuda": [1, 64, 1024, 16384], "cpu": [1, 64, 1024]}
WARM_UP_SECONDS = 2.0


@dataclass(frozen=True)
class Precision:
    """One row group: ``fit``'s precision name ("fp32": no autocast) and the TF32 flags (None: PyTorch's default)."""

    name: str
    autocast: str = "fp32"
    matmul_tf32: bool | None = None
    conv_tf32: bool | None = None


GPU_PRECISIONS = (
    Precision("float32, TF32 off", matmul_tf32=False, conv_tf32=False),
    Precision("float32, PyTorch defaults"),
    Precision("float32, TF32 on", matmul_tf32=True, conv_tf32=True),
    Precision("bfloat16 autocast", "bf16"),
    Precision("float16 autocast", "fp16"),
)
CPU_PRECISIONS = (Precision("float32"), Precision("bfloat16 autocast", "bf16"))


def tf32_defaults() -> dict[str, bool | str]:
    """PyTorch's TF32 settings as this process started (read before any row changes them)."""
    return {"torch.backends.cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "torch.backends.cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "torch.get_float32_matmul_precision()": torch.get_float32_matmul_precision()}


@contextlib.contextmanager
def precision_context(precision: Precision, device: torch.device) -> Iterator[None]:
    """Set the row's TF32 flags and autocast; put the flags back afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if precision.matmul_tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = precision.matmul_tf32
    if precision.conv_tf32 is not None:
        torch.backends.cudnn.allow_tf32 = precision.conv_tf32
    try:
        with autocast(device, precision.autocast):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name where the system tells it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU ({line.split(':', 1)[1].strip()})"
    return f"CPU ({platform.processor() or platform.machine()})"


def synthetic_batch(batch_size: int, device: torch.device, seed: int = 0) -> dict[str, Tensor]:
    """AV-Digits-shaped inputs: image (B, 1, 28, 28) in [0, 1], log-mel (B, N_MELS, 51), label (B,)."""
    generator = torch.Generator().manual_seed(seed)
    batch = {"image": torch.rand(batch_size, 1, 28, 28, generator=generator),
             "audio": torch.randn(batch_size, avf.N_MELS, TIME_STEPS, generator=generator),
             "label": torch.randint(0, avf.NUM_CLASSES, (batch_size,), generator=generator)}
    return {key: value.to(device) for key, value in batch.items()}


def notebook_model(device: torch.device) -> nn.Module:
    """Notebook 10's model, freshly initialized with seed 0."""
    torch.manual_seed(0)
    return ModalityDropoutModel(avf.build_model("concat"), p=0.3).to(device)


def synchronized(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """``fn`` followed by ``torch.cuda.synchronize()`` on a GPU, so that a timing includes the work."""
    def run() -> None:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


def inference_step(model: nn.Module, batch: dict[str, Tensor], precision: Precision,
                   device: torch.device) -> Tensor:
    """Logits (B, num_classes) in float32 of one eval-mode forward pass at ``precision``."""
    with torch.inference_mode(), precision_context(precision, device):
        return model(batch).float()


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                  batch: dict[str, Tensor], precision: Precision, device: torch.device) -> None:
    """One step: forward and loss at ``precision``, backward, optimizer step (through ``scaler``)."""
    with precision_context(precision, device):
        loss = nn.functional.cross_entropy(model(batch), batch["label"])
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def measure(device: torch.device, precisions: tuple[Precision, ...], batch_sizes: list[int],
            repeats: int, warmup: int) -> list[dict]:
    """One row per (precision, batch size): median milliseconds and the largest logit difference."""
    model = notebook_model(device).eval()
    largest = synthetic_batch(max(batch_sizes), device, seed=1)
    reference = inference_step(model, largest, precisions[0], device)
    warm_until = time.perf_counter() + WARM_UP_SECONDS  # let a GPU's clocks rise before the first timing
    while time.perf_counter() < warm_until:
        synchronized(lambda: inference_step(model, largest, precisions[0], device), device)()
    rows = []
    for precision in precisions:
        difference = (inference_step(model, largest, precision, device) - reference).abs().max().item()
        for batch_size in batch_sizes:
            batch = synthetic_batch(batch_size, device)
            infer = synchronized(partial(inference_step, model, batch, precision, device), device)
            trained = copy.deepcopy(model).train()
            optimizer = torch.optim.Adam(trained.parameters(), lr=avf.LEARNING_RATES["adam"])
            scaler = torch.amp.GradScaler(device.type, enabled=precision.autocast == "fp16")
            train = synchronized(partial(training_step, trained, optimizer, scaler, batch, precision, device), device)
            rows.append({"precision": precision.name, "batch_size": batch_size,
                         "inference_ms": 1e3 * median_latency(infer, repeats, warmup),
                         "train_step_ms": 1e3 * median_latency(train, repeats, warmup),
                         "max_logit_difference": difference})
            print(f"{precision.name:27s} batch {batch_size:5d}: inference {rows[-1]['inference_ms']:8.3f} ms, "
                  f"training step {rows[-1]['train_step_ms']:8.3f} ms, max |logit diff| {difference:.2e}", flush=True)
    return rows


def markdown(report: dict) -> str:
    """The results table, speed-ups against the first precision at the same batch size."""
    base = {row["batch_size"]: row for row in report["rows"] if row["precision"] == report["rows"][0]["precision"]}
    defaults = ", ".join(f"`{name}` = `{value}`" for name, value in report["tf32_defaults"].items())
    lines = [f"# Mixed precision: notebook 10's model on {report['device_name']}", "",
             f"Written by `python benchmarks/mixed_precision.py --device {report['device']} --repeats {report['repeats']}"
             f"{' --threads ' + str(report['threads']) if report['device'] == 'cpu' else ''}` "
             f"on {report['date']} "
             f"({report['device_name']}, torch {report['torch']}, {report['threads']} CPU thread(s)). "
             f"Median of {report['repeats']} timed calls after {report['warmup']} warm-up calls; synthetic inputs of "
             "AV-Digits' shapes; the model freshly initialized (seed 0). Speed-ups are against the first row of the "
             "same batch size; the logit difference is the largest absolute difference from that first row's "
             f"logits, batch {max(base)}, eval mode. TF32 settings at start: {defaults}.", "",
             "| precision | batch | inference ms | inference speed-up | training step ms | training speed-up "
             "| max abs logit difference |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        first = base[row["batch_size"]]
        lines.append(f"| {row['precision']} | {row['batch_size']} | {row['inference_ms']:.3f} | "
                     f"{first['inference_ms'] / row['inference_ms']:.2f}x | {row['train_step_ms']:.3f} | "
                     f"{first['train_step_ms'] / row['train_step_ms']:.2f}x | {row['max_logit_difference']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help=f"default: {BATCH_SIZES['cuda']} on a GPU, {BATCH_SIZES['cpu']} on a CPU")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default: 25 on a GPU, 10 on a CPU)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    defaults = tf32_defaults()
    device = config.get_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (25 if device.type == "cuda" else 10)
    precisions = GPU_PRECISIONS if device.type == "cuda" else CPU_PRECISIONS
    batch_sizes = sorted(args.batch_sizes or BATCH_SIZES.get(device.type, BATCH_SIZES["cpu"]))
    rows = measure(device, precisions, batch_sizes, repeats, args.warmup)
    report = {"device": device.type,
              "device_name": device_name(device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": repeats,
              "warmup": args.warmup, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tf32_defaults": defaults, "rows": rows}
    path = write_report(args.out, f"mixed_precision_{device.type}", report, markdown(report))
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
