"""Generate the course's datasets ahead of time (they are also made on first use).

    python -m data_scripts.make_datasets                      # every dataset, full size
    python -m data_scripts.make_datasets --fast               # every dataset, CI size
    python -m data_scripts.make_datasets --dataset av_digits --regenerate

A dataset whose cache already matches is only checked (checksums) and reported.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from course_lib.data import DATASETS, dataset_module
from course_lib.data.cache import CacheError, cache_dir


def folder_bytes(folder: Path) -> int:
    """Total size of the files in a folder."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_scripts.make_datasets",
        description="Generate and cache the course's datasets.",
    )
    parser.add_argument(
        "--dataset", nargs="+", default=["all"], metavar="NAME",
        help=f"datasets to make: 'all' or any of {', '.join(DATASETS)} (default: all)",
    )
    parser.add_argument("--fast", action="store_true", help="the small datasets of fast mode (COURSE_FAST=1)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild even if a valid cache exists")
    args = parser.parse_args(argv)
    unknown = [name for name in args.dataset if name != "all" and name not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; valid names: all, {', '.join(DATASETS)}")
    if "all" in args.dataset:
        args.dataset = list(DATASETS)
    args.dataset = list(dict.fromkeys(args.dataset))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "fast" if args.fast else "full"
    total = time.perf_counter()
    for name in args.dataset:
        print(f"== {name} ({mode})", flush=True)
        start = time.perf_counter()
        try:
            arrays = dataset_module(name).load_arrays(fast=args.fast, regenerate=args.regenerate)
        except CacheError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        seconds = time.perf_counter() - start
        folder = cache_dir(name, args.fast)
        shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in arrays.items())
        print(f"   {seconds:.1f} s, {folder_bytes(folder) / 1e6:.1f} MB in {folder}")
        print(f"   arrays: {shapes}", flush=True)
    print(f"done in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
