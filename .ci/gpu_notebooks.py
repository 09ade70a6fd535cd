"""Run every course notebook under nbval on a CUDA GPU, and fail unless the models trained there.

Each notebook runs in its own pytest/nbval process with ``COURSE_DEVICE=cuda`` (so
``config.get_device()`` returns the GPU or raises) and ``COURSE_DEVICE_LOG`` set, so that
every ``course_lib.train.fit`` call records the device that trained its model. The run fails
when a notebook fails, when any model trained on another device, or when a notebook that
is expected to train (``TRAINING_NOTEBOOKS``) trained nothing on the GPU::

    python .ci/gpu_notebooks.py            # fast mode, as CI runs it
    python .ci/gpu_notebooks.py --full     # full mode: the real results, with run times
    python .ci/gpu_notebooks.py --device cpu notebooks/03_fusion_architectures.ipynb   # try the check on a CPU

It prints one row per notebook (seconds, models trained on the device) and writes the table
to ``artifacts/notebooks_<device>_<mode>.json``. The kernels run in this script's Python
(``--nbval-current-env``) and inherit its environment, ``COURSE_MINILM_DIR`` included (the
MiniLM model folder of notebook 05 when its package is not installed; printed at the start).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Notebooks that train at least one model with course_lib.train.fit (by number).
TRAINING_NOTEBOOKS = ("03", "04", "06", "07", "08", "09", "10")


def device_name(device: str) -> str:
    """The device's name; exits with a message when PyTorch cannot see it."""
    import torch

    if device == "cpu":
        return "cpu"
    if device != "cuda":
        sys.exit(f"--device must be cuda or cpu, got {device!r}")
    if not torch.cuda.is_available():
        sys.exit("No CUDA device: torch.cuda.is_available() is False. Run this script on a GPU machine.")
    return torch.cuda.get_device_name(0)


def run_notebook(path: Path, fast: bool, device: str, log_dir: Path) -> dict:
    """Run one notebook under nbval; return its name, exit status, seconds and training devices."""
    log = log_dir / f"{path.stem}.devices"
    env = {**os.environ, "COURSE_FAST": "1" if fast else "0", "COURSE_DEVICE": device, "COURSE_STRICT_CHECKS": "1",
           "COURSE_DEVICE_LOG": str(log), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-current-env", str(path)], cwd=ROOT, env=env)
    devices = log.read_text().split() if log.exists() else []
    return {"notebook": path.name, "passed": status == 0, "seconds": round(time.perf_counter() - start, 1),
            "fits_on_device": devices.count(device), "fits_elsewhere": len(devices) - devices.count(device)}


def minilm_source() -> str:
    """Where notebook 05's MiniLM model will come from, or why it is missing."""
    try:
        from course_lib.features.text_encoder import model_dir

        return str(model_dir())
    except (ImportError, FileNotFoundError) as error:
        return f"not found: {error}"


def problems(row: dict) -> list[str]:
    """What is wrong with one notebook's run (empty when it is fine)."""
    found = [] if row["passed"] else ["a cell failed"]
    if row["fits_elsewhere"]:
        found.append(f"{row['fits_elsewhere']} model(s) trained on another device")
    if row["notebook"][:2] in TRAINING_NOTEBOOKS and not row["fits_on_device"]:
        found.append("no model trained on the device")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full mode (default: fast mode, COURSE_FAST=1)")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to try the check without a GPU")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args()
    name = device_name(args.device)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    mode = "full" if args.full else "fast"
    log_dir = ROOT / "artifacts" / f"device_logs_{args.device}_{mode}"
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in log_dir.glob("*.devices"):
        stale.unlink()

    minilm = minilm_source()
    print(f"MiniLM model (notebook 05): {minilm}", flush=True)
    report = {"mode": mode, "device": name, "minilm_dir": minilm, "total_seconds": 0.0, "notebooks": []}
    output = ROOT / "artifacts" / f"notebooks_{args.device}_{mode}.json"
    rows = report["notebooks"]
    for path in paths:  # the report is rewritten after every notebook, so a cut-off run keeps what finished
        rows.append(run_notebook(path, fast=not args.full, device=args.device, log_dir=log_dir))
        report["total_seconds"] = round(sum(row["seconds"] for row in rows), 1)
        output.write_text(json.dumps(report, indent=2))
    print(f"\n{mode} mode on {name}\n\n| notebook | seconds | models trained there | result |\n| --- | ---: | ---: | --- |")
    failures = 0
    for row in rows:
        found = problems(row)
        failures += bool(found)
        print(f"| {row['notebook']} | {row['seconds']} | {row['fits_on_device']} | {'; '.join(found) or 'passed'} |")
    print(f"\ntotal {report['total_seconds']:.0f} s; {failures} notebook(s) with problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
