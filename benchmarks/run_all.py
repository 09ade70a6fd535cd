"""Every headline result of the course in one command: the benchmark tables and every notebook's run time.

    python benchmarks/run_all.py                       # everything (about an hour or two on 2 CPU cores)
    python benchmarks/run_all.py --parts notebooks     # only the notebooks' run times, fast and full mode
    python benchmarks/run_all.py --parts benchmarks    # only the headline tables (notebooks 03, 06, 09, 11, 12)
    python benchmarks/run_all.py --parts notebooks --modes fast --notebooks 01 02
    python benchmarks/run_all.py --parts benchmarks --benchmarks vqa_sort_of_clevr
    python benchmarks/run_all.py --parts notebooks --save-executed /tmp/executed   # keep the executed copies

Steps, in order:

1. ``data``: regenerate every dataset in both sizes (``python -m data_scripts.make_datasets
   --regenerate``), timed, so that the notebooks' times below do not include generation.
2. ``benchmarks``: each headline benchmark script in full mode (its default), which writes its
   own table to ``benchmarks/results/``.
3. ``notebooks``: every notebook executed top to bottom, as Restart & Run All does, in fast mode
   (``COURSE_FAST=1``, as CI) and in full mode; the stored notebooks are left untouched.

It writes ``benchmarks/results/course.md`` and ``course.json``: the device, the tables of the
benchmarks, and the run time of every notebook in both modes against the course's targets
(fast mode <= 10 minutes and full mode <= 60 minutes in all). A run of some parts (or of some
benchmarks or notebooks) keeps the latest results of the others from ``course.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from course_lib import config

from report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
NOTEBOOKS = config.ROOT / "notebooks"
#: The headline benchmarks: (what it measures, script in benchmarks/, results file stem, its arguments).
#: Every model trains on one CPU thread, as for the stored tables: a seeded run repeats exactly only with
#: the same number of threads.
BENCHMARKS = (
    ("notebook 03: every fusion method on AV-Digits", "fusion_av_digits.py", "fusion_av_digits", ["--threads", "1"]),
    ("notebook 06: visual question answering on Sort-of-CLEVR-Text", "vqa_sort_of_clevr.py", "vqa_sort_of_clevr",
     ["--jobs", "2"]),
    ("notebook 09: multitask TCN fusion on AV-Digits-Video", "fusion_av_digits_video.py", "fusion_av_digits_video",
     ["--jobs", "2", "--threads", "1"]),
    ("notebook 11: contrastive alignment and cross-modal retrieval", "contrastive_retrieval.py", "contrastive_retrieval",
     ["--threads", "1"]),
    ("notebook 12: training at scale, 1 and 2 processes", "training_at_scale.py", "training_at_scale", []),
)
TARGET_SECONDS = {"fast": 10 * 60, "full": 60 * 60}
PARTS = ("data", "benchmarks", "notebooks")


def run_command(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run a command from the repository root; return its exit status and wall seconds."""
    start = time.perf_counter()
    status = subprocess.call(command, cwd=config.ROOT, env={**os.environ, **(env or {})})
    return status, round(time.perf_counter() - start, 1)


def make_data() -> dict:
    """Regenerate every dataset in both sizes; the seconds each size took."""
    seconds = {}
    for mode, flags in (("fast", ["--fast"]), ("full", [])):
        command = [sys.executable, "-m", "data_scripts.make_datasets", "--regenerate", *flags]
        status, seconds[mode] = run_command(command)
        if status:
            raise SystemExit(f"dataset generation ({mode}) failed with status {status}")
    return seconds


def run_benchmarks(stems: list[str]) -> list[dict]:
    """Run the headline benchmark scripts whose results are named ``stems``; keep each one's exit status,
    time and results file."""
    rows = []
    for title, script, stem, arguments in BENCHMARKS:
        if stem not in stems:
            continue
        print(f"\n== {title}: benchmarks/{script}", flush=True)
        if not (RESULTS.parent / script).exists():
            rows.append({"title": title, "script": f"benchmarks/{script}", "status": "missing", "seconds": 0.0,
                         "results": None})
            print("this benchmark script does not exist yet", flush=True)
            continue
        status, seconds = run_command([sys.executable, str(Path("benchmarks") / script), *arguments])
        rows.append({"title": title, "script": f"benchmarks/{script}", "status": status, "seconds": seconds,
                     "results": f"benchmarks/results/{stem}.md"})
    return rows


def merge_benchmarks(kept: list[dict], fresh: list[dict]) -> list[dict]:
    """The rows of ``fresh`` benchmark runs, and the ``kept`` rows of the benchmarks not run again, in ``BENCHMARKS`` order."""
    rows = {row["script"]: row for row in kept} | {row["script"]: row for row in fresh}
    return [rows[f"benchmarks/{script}"] for _, script, _, _ in BENCHMARKS if f"benchmarks/{script}" in rows]


def time_notebook(path: Path, fast: bool, save_to: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel; its seconds and status. The stored notebook is not
    written back; with ``save_to`` the executed copy is saved in that folder, named by mode."""
    previous = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as exc:  # a failing cell: report it, go on with the next notebook
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        seconds = round(time.perf_counter() - start, 1)
        if previous is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = previous
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save_to / f"{path.stem}.{'fast' if fast else 'full'}.ipynb")
    return {"seconds": seconds, "error": error}


def time_notebooks(modes: list[str], numbers: list[str] | None = None, save_to: Path | None = None) -> dict[str, dict]:
    """Run time of each notebook (all, or those ``numbers``) per mode: {notebook: {mode: {"seconds", "error"}}}."""
    paths = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if numbers is None or p.name[:2] in numbers]
    if not paths:
        raise SystemExit(f"no notebook in {NOTEBOOKS} has a number in {numbers}")
    times: dict[str, dict] = {}
    for mode in modes:
        for path in paths:
            print(f"{mode:4s} {path.name} ...", end=" ", flush=True)
            times.setdefault(path.name, {})[mode] = result = time_notebook(path, fast=mode == "fast", save_to=save_to)
            print(f"{result['seconds']:.0f} s" + (f"  FAILED: {result['error']}" if result["error"] else ""),
                  flush=True)
    return times


def cpu_name() -> str:
    """The CPU's model name where the system says it (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict:
    device = config.get_device()
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def notebook_table(times: dict[str, dict]) -> list[str]:
    lines = ["| notebook | CPU fast | CPU full |", "| --- | ---: | ---: |"]
    totals = {"fast": 0.0, "full": 0.0}
    ran = {mode: any(mode in by_mode for by_mode in times.values()) for mode in totals}
    for name, by_mode in sorted(times.items()):
        cells = []
        for mode in ("fast", "full"):
            result = by_mode.get(mode)
            if result is None:
                cells.append("not run")
                continue
            totals[mode] += result["seconds"]
            cells.append(f"{result['seconds']:.0f} s" + (" (failed)" if result["error"] else ""))
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    total = [f"**{minutes(totals[mode])}**" if ran[mode] else "not run" for mode in ("fast", "full")]
    lines.append(f"| **all notebooks** | {total[0]} | {total[1]} |")
    lines += ["", "Targets: " + ", ".join(
        f"{mode} mode <= {TARGET_SECONDS[mode] // 60} min ({'met' if totals[mode] <= TARGET_SECONDS[mode] else 'NOT met'})"
        for mode in ("fast", "full") if ran[mode])]
    return lines


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Course results", "",
        f"Written by `python benchmarks/run_all.py` (last run {report['updated_utc']}, parts: "
        f"{', '.join(report['parts_run'])}) on {m['device']} ({m['device_name']}, {m['cpu_count']} CPU cores), "
        f"torch {m['torch']}, Python {m['python']}. Times are wall-clock seconds on a shared machine: noisy.",
    ]
    if report.get("data"):
        lines += ["", "## Datasets", "",
                  f"Generating every dataset took {report['data']['fast']:.0f} s (fast size) and "
                  f"{report['data']['full']:.0f} s (full size); the notebook times below read them from the cache."]
    if report.get("notebooks"):
        lines += ["", "## Notebook run times", "",
                  "Each notebook executed top to bottom in a fresh kernel, in fast mode (`COURSE_FAST=1`, as CI runs "
                  "them) and in full mode (the real results).", "", *notebook_table(report["notebooks"])]
    for bench in report.get("benchmarks", []):
        if bench["status"] == "missing":
            lines += ["", f"## {bench['title']}", "", f"`{bench['script']}` does not exist yet."]
            continue
        lines += ["", f"## {bench['title']}", "",
                  f"`python {bench['script']}` took {minutes(bench['seconds'])} when this command last ran it"
                  + ("." if bench["status"] == 0 else f" and FAILED (exit status {bench['status']}).")]
        table = config.ROOT / bench["results"]
        if not table.exists():
            lines[-1] += f" `{bench['results']}` has not been written yet."
            continue
        text = table.read_text()
        body = text.split("\n", 1)[1] if text.startswith("# ") else text
        lines += [lines.pop() + f" Its latest table (`{bench['results']}`):", "", body.replace("\n## ", "\n### ").strip()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--modes", nargs="+", choices=("fast", "full"), default=["fast", "full"],
                        help="notebook modes to time (default: both)")
    parser.add_argument("--notebooks", nargs="+", default=None, metavar="NN",
                        help="time only these notebooks, by number (default: all)")
    parser.add_argument("--benchmarks", nargs="+", choices=[stem for *_, stem, _ in BENCHMARKS],
                        default=[stem for *_, stem, _ in BENCHMARKS], help="run only these benchmarks (default: all)")
    parser.add_argument("--save-executed", type=Path, default=None, metavar="DIR",
                        help="save each executed notebook in DIR as NAME.fast.ipynb / NAME.full.ipynb")
    args = parser.parse_args()
    start = time.perf_counter()
    path = RESULTS / "course.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    if "data" in args.parts:
        report["data"] = make_data()
    if "benchmarks" in args.parts:
        report["benchmarks"] = merge_benchmarks(report.get("benchmarks", []), run_benchmarks(args.benchmarks))
    if "notebooks" in args.parts:
        for name, by_mode in time_notebooks(args.modes, args.notebooks, args.save_executed).items():
            report.setdefault("notebooks", {}).setdefault(name, {}).update(by_mode)
    report.update(machine=machine(), parts_run=args.parts,
                  updated_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_report(RESULTS, "course", report, markdown(report))
    print(markdown(report))
    print(f"written to {RESULTS} in {minutes(time.perf_counter() - start)}")
    failed = [b["script"] for b in report.get("benchmarks", []) if b["status"]]
    failed += [name for name, by_mode in report.get("notebooks", {}).items() if any(r["error"] for r in by_mode.values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
