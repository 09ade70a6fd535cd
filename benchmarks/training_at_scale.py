"""Training at scale (notebook 12): one epoch of the AV-Digits and AV-Digits-Video models with 1 and 2 processes.

    python benchmarks/training_at_scale.py            # full mode: the table in benchmarks/results/
    python benchmarks/training_at_scale.py --fast     # the fast-mode datasets (seconds)

Each run launches ``python -m torch.distributed.run --nproc_per_node=N`` on this file's ``worker``
command, which makes the same ``fit`` call as the course's recipes (``build_model`` of
``course_lib.experiments``, their optimizer, loss and score) for two epochs; the second epoch is
timed (the first pays for start-up, and for compilation when compiled). The global batch is the
recipe's (64 for AV-Digits, 32 for AV-Digits-Video) whatever the number of processes: N
processes take ``batch / N`` samples each per step, so every run takes the same optimizer steps.
Each CPU process uses one thread, so 2 processes use 2 cores against 1 core for 1 process.

``samples/s`` counts the training samples of an epoch over its wall-clock time (the training steps
and the validation pass over ``VAL_SAMPLES`` clips); the **scaling efficiency** of N processes is
``(samples/s with N) / (N x samples/s with 1)``: 100 % is perfect scaling. Where a GPU is
available the same epoch runs there with one process, eager, compiled and in bf16.

The ``worker`` command also serves notebook 12::

    python -m torch.distributed.run --nproc_per_node=2 benchmarks/training_at_scale.py worker \\
        --model mlp --no-shuffle --save /tmp/two.pt --out /tmp/two.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import config, distributed
from course_lib.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("av_digits", "av_digits_video")  # the benchmark's models; "mlp" is the notebook's BN-free check
VAL_SAMPLES = 250


class FlatFusion(nn.Module):
    """A batch-norm-free early-fusion MLP on AV-Digits: flattened image and time-averaged log-mel, concatenated."""

    def __init__(self, n_mels: int, hidden: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(28 * 28 + n_mels, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """image (B, 1, 28, 28), audio (B, n_mels, T) -> logits (B, num_classes)."""
        return self.net(torch.cat([batch["image"].flatten(1), batch["audio"].mean(-1)], dim=1))


def recipe(name: str, fast: bool, batch_size: int, shuffle: bool) -> dict:
    """The model, loaders and training settings of one benchmark model, as its course recipe trains it."""
    if name in ("av_digits", "mlp"):
        from course_lib.experiments import av_digits_fusion as avf
        features = avf.load_features(fast=fast)
        model = avf.build_model("concat") if name == "av_digits" else FlatFusion(features.frontend.n_mels)
        train = features.loader("train", batch_size, shuffle=shuffle, seed=0)
        val_split = {k: v[:VAL_SAMPLES] for k, v in features.splits["val"].items() if k in ("image", "audio", "label")}
        optimizer = avf.make_optimizer("adam", model.parameters()) if name == "av_digits" else \
            torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return {"model": model, "train": train, "val": _loader(val_split), "optimizer": optimizer,
                "loss_fn": nn.functional.cross_entropy, "options": {}}
    from course_lib.experiments import av_digits_video_fusion as avvf
    tensors = avvf.load_tensors(fast=fast)
    model = avvf.build_model(avvf.HEADLINE, n_mels=tensors.frontend.n_mels)
    keys = [*model.modalities, *model.targets]
    val_split = {k: tensors.splits["val"][k][:VAL_SAMPLES] for k in keys}
    optimizer = torch.optim.AdamW(model.parameters(), lr=avvf.LEARNING_RATE, weight_decay=1e-4)
    return {"model": model, "train": tensors.loader("train", keys, batch_size, shuffle=shuffle, seed=0),
            "val": _loader(val_split), "optimizer": optimizer, "loss_fn": avvf.multitask_loss,
            "options": {"score_fn": avvf.mean_accuracy, "target_key": model.targets, "grad_clip": 5.0}}


def _loader(tensors: dict) -> DataLoader:
    from course_lib.data.tensors import tensor_loader
    return tensor_loader(tensors, batch_size=VAL_SAMPLES)


def global_batch(name: str) -> int:
    return 32 if name == "av_digits_video" else 64


def worker(args: argparse.Namespace) -> None:
    """One process of a torchrun launch (or the only one): two epochs of ``fit``; rank 0 writes the numbers."""
    torch.set_num_threads(args.threads)
    device = distributed.setup(config.get_device(args.device))
    world = distributed.world_size()
    batch = global_batch(args.model) // world
    config.seed_everything(0)
    parts = recipe(args.model, args.fast, batch, shuffle=not args.no_shuffle)
    result = fit(parts["model"], parts["train"], val_loader=parts["val"], loss_fn=parts["loss_fn"],
                 optimizer=parts["optimizer"], epochs=args.epochs, device=device, progress=False,
                 precision=args.precision, compile=args.compile, **parts["options"])
    if distributed.is_main_process():
        samples = len(parts["train"].dataset)
        seconds = result.history["seconds"][-1]
        row = {"model": args.model, "processes": world, "device": device.type, "precision": args.precision,
               "compile": args.compile, "batch_per_process": batch, "global_batch": batch * world,
               "train_samples": samples, "epoch_seconds": seconds, "samples_per_second": samples / seconds,
               "history": result.history}
        if args.out:
            Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
        if args.save:
            torch.save(parts["model"].state_dict(), args.save)
        print(json.dumps({k: v for k, v in row.items() if k != "history"}))
    distributed.shutdown()


def launch(model: str, processes: int, fast: bool, device: str = "cpu", precision: str = "fp32",
           compile: bool = False) -> dict:
    """Run the worker under torchrun with ``processes`` processes; return rank 0's row."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "row.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   __file__, "worker", "--model", model, "--device", device, "--precision", precision,
                   "--out", str(out), *(["--fast"] if fast else []), *(["--compile"] if compile else [])]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(command, check=True, env=env, cwd=config.ROOT)
        return json.loads(out.read_text())


def markdown(report: dict) -> str:
    lines = ["# Training at scale", "",
             (f"Written by `python benchmarks/training_at_scale.py{' --fast' if report['fast'] else ''}` on "
              f"{report['updated_utc']} ({report['cpu_count']} CPU cores, {report['gpu'] or 'no GPU'}, torch "
              f"{report['torch']}). One epoch of `fit` (the second of two), the recipe's global batch split over "
              "the processes; each CPU process uses one thread. Times are wall-clock on a shared machine: noisy."), "",
             ("| model | device | processes | precision | compiled | batch per process | epoch seconds | samples/s | "
              "scaling efficiency |"), "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        efficiency = f"{100 * row['scaling_efficiency']:.0f} %" if row.get("scaling_efficiency") else ""
        lines.append(f"| {row['model']} | {row['device']} | {row['processes']} | {row['precision']} | "
                     f"{'yes' if row['compile'] else 'no'} | {row['batch_per_process']} | {row['epoch_seconds']:.1f} | "
                     f"{row['samples_per_second']:.0f} | {efficiency} |")
    if not report["gpu"]:
        lines += ["", "No GPU was available to this run: the GPU rows (eager, compiled, bf16) are still to be measured."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("worker", help="one process of a launch (run it under torchrun)")
    run.add_argument("--model", choices=(*MODELS, "mlp"), default="av_digits")
    run.add_argument("--device", default="cpu")
    run.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    run.add_argument("--compile", action="store_true")
    run.add_argument("--epochs", type=int, default=2)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--no-shuffle", action="store_true", help="read the training set in order (for the check)")
    run.add_argument("--fast", action="store_true")
    run.add_argument("--out", default=None, help="write rank 0's row (JSON) here")
    run.add_argument("--save", default=None, help="save the trained weights here")
    parser.add_argument("--fast", action="store_true", help="the fast-mode datasets")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if args.command == "worker":
        worker(args)
        return
    rows = []
    for model in MODELS:
        runs = [launch(model, n, args.fast) for n in args.processes]
        for row in runs:
            row["scaling_efficiency"] = row["samples_per_second"] / (row["processes"] * runs[0]["samples_per_second"])
        rows += runs
        if torch.cuda.is_available():
            rows += [launch(model, 1, args.fast, "cuda", precision, compile)
                     for precision, compile in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))]
    report = {"fast": args.fast, "updated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "rows": [{k: v for k, v in row.items() if k != "history"} for row in rows]}
    name = "training_at_scale_fast" if args.fast else "training_at_scale"
    print(markdown(report))
    print(write_report(RESULTS, name, report, markdown(report)))


if __name__ == "__main__":
    main()
