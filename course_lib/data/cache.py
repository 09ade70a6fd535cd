"""An on-disk cache for generated datasets: checked, versioned and written atomically.

A dataset is a ``dict[str, np.ndarray]`` made by a deterministic ``generate(params, seed)``.
``cached_arrays`` keeps it under ``config.data_dir() / NAME / ("fast" or "full")``::

    arrays.npz       the arrays (np.savez, no pickled objects; strings are fixed-width unicode)
    manifest.json    name, version, params, seed, fast, sha256 of every file, creation time

The folder is loaded when its manifest matches the requested version, params and seed
and every checksum verifies; it is regenerated when version, params or seed changed; and
a damaged folder (bad checksum, missing file, unreadable manifest or arrays) raises a
``CacheError`` that names the command that rebuilds it, rather than being used silently.

A new folder is written into a temporary sibling, flushed to disk, then renamed into
place, so an interrupted generation never leaves a half-written cache behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import config

ARRAYS_FILE = "arrays.npz"
MANIFEST_FILE = "manifest.json"
_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "version": str,
    "params": dict,
    "seed": int,
    "fast": bool,
    "files": dict,
    "created_utc": str,
    "generation_seconds": (int, float),
}


class CacheError(RuntimeError):
    """A cached dataset folder is damaged; the message names the command that rebuilds it."""


def rebuild_command(name: str, fast: bool) -> str:
    """The shell command that regenerates one cached dataset from scratch."""
    fast_flag = " --fast" if fast else ""
    return f"python -m data_scripts.make_datasets --dataset {name}{fast_flag} --regenerate"


def cache_dir(name: str, fast: bool) -> Path:
    """Folder of one dataset's cache: ``data_dir() / name / ("fast" or "full")``."""
    return config.data_dir() / name / ("fast" if fast else "full")


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def cached_arrays(
    name: str,
    *,
    params: dict,
    seed: int,
    version: str,
    generate: Callable[[dict, int], dict[str, np.ndarray]],
    fast: bool,
    regenerate: bool = False,
) -> dict[str, np.ndarray]:
    """Load a dataset from its cache, or generate and cache it.

    Args:
        name: dataset name, also the cache folder's name.
        params: generator parameters (JSON-serializable); a change triggers regeneration.
        seed: generator seed; a change triggers regeneration.
        version: generator version; bump it when the generator's output changes.
        generate: ``generate(params, seed) -> dict[str, np.ndarray]``, deterministic.
        fast: which of the two caches (``fast/`` or ``full/``) to use.
        regenerate: rebuild even when a matching (or damaged) cache exists.

    Returns:
        The arrays by name, exactly as ``generate`` made them (strings as fixed-width unicode).

    Raises:
        CacheError: the cache folder is damaged; rebuild with ``regenerate=True``
            or the command in the message.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    params = _as_json(params, name)
    folder = cache_dir(name, fast)
    if folder.exists() and not regenerate:
        manifest = _read_manifest(folder, name, fast)
        stale = [key for key, value in (("version", version), ("params", params), ("seed", seed))
                 if manifest[key] != value]
        if not stale:
            return _load_verified(folder, manifest, name, fast)
        print(f"{name} ({'fast' if fast else 'full'}): {', '.join(stale)} changed, regenerating")
    return _generate_into(folder, name=name, params=params, seed=seed, version=version,
                          generate=generate, fast=fast)


def _as_json(params: dict, name: str) -> dict:
    """``params`` as JSON would round-trip it (tuples become lists), or a clear error."""
    if not isinstance(params, dict):
        raise TypeError(f"params of {name} must be a dict, got {type(params).__name__}")
    try:
        return json.loads(json.dumps(params, sort_keys=True))
    except TypeError as error:
        raise TypeError(f"params of {name} must be JSON-serializable: {error}") from None


def _damaged(name: str, fast: bool, folder: Path, problem: str) -> CacheError:
    return CacheError(
        f"The cached dataset {name!r} in {folder} is damaged: {problem}. "
        f"Rebuild it with: {rebuild_command(name, fast)}"
    )


def _read_manifest(folder: Path, name: str, fast: bool) -> dict[str, Any]:
    """The folder's manifest, checked for the expected keys and types."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise _damaged(name, fast, folder, f"{MANIFEST_FILE} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(name, fast, folder, f"{MANIFEST_FILE} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise _damaged(name, fast, folder, f"{MANIFEST_FILE} is not a JSON object")
    for key, expected_type in _MANIFEST_TYPES.items():
        if not isinstance(manifest.get(key), expected_type):
            raise _damaged(name, fast, folder, f"{MANIFEST_FILE} lacks a valid {key!r} entry")
    if manifest["name"] != name or manifest["fast"] != fast:
        raise _damaged(name, fast, folder,
                       f"{MANIFEST_FILE} describes {manifest['name']!r} (fast={manifest['fast']})")
    if ARRAYS_FILE not in manifest["files"]:
        raise _damaged(name, fast, folder, f"{MANIFEST_FILE} lists no checksum for {ARRAYS_FILE}")
    return manifest


def _load_verified(folder: Path, manifest: dict, name: str, fast: bool) -> dict[str, np.ndarray]:
    """Check every file's SHA-256 against the manifest, then load the arrays."""
    for filename, expected in manifest["files"].items():
        path = folder / filename
        if not path.is_file():
            raise _damaged(name, fast, folder, f"{filename} is missing")
        if sha256_file(path) != expected:
            raise _damaged(name, fast, folder, f"the checksum of {filename} does not match")
    try:
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _damaged(name, fast, folder, f"{ARRAYS_FILE} cannot be read ({error})") from None


def _checked_arrays(arrays: Any, name: str) -> dict[str, np.ndarray]:
    """The generator's output as plain arrays that np.savez stores without pickling."""
    if not isinstance(arrays, dict) or not arrays:
        raise TypeError(f"generate() of {name} must return a non-empty dict of arrays")
    checked = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(
                f"array {key!r} of {name} has dtype object, which needs pickle; "
                "store strings as fixed-width unicode (np.array(list_of_str))"
            )
        checked[key] = array
    return checked


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk (a no-op where directories cannot be opened)."""
    if os.name == "nt":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _generate_into(
    folder: Path,
    *,
    name: str,
    params: dict,
    seed: int,
    version: str,
    generate: Callable[[dict, int], dict[str, np.ndarray]],
    fast: bool,
) -> dict[str, np.ndarray]:
    """Generate into a temporary sibling folder, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}-tmp-", dir=folder.parent))
    previous = folder.parent / f".{folder.name}-old-{temporary.name.rsplit('-', 1)[-1]}"
    try:
        start = time.perf_counter()
        arrays = _checked_arrays(generate(params, seed), name)
        seconds = time.perf_counter() - start
        with open(temporary / ARRAYS_FILE, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        manifest = {
            "name": name,
            "version": version,
            "params": params,
            "seed": seed,
            "fast": fast,
            "files": {ARRAYS_FILE: sha256_file(temporary / ARRAYS_FILE)},
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "generation_seconds": round(seconds, 3),
        }
        with open(temporary / MANIFEST_FILE, "w", encoding="utf-8") as file:
            json.dump(manifest, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        _fsync_dir(temporary)
        if folder.exists():
            os.replace(folder, previous)
        os.replace(temporary, folder)
        _fsync_dir(folder.parent)
        return arrays
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if previous.exists():
            if folder.exists():
                shutil.rmtree(previous, ignore_errors=True)
            else:
                os.replace(previous, folder)
