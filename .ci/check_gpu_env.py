"""Check an environment made by .ci/install_offline.sh before the GPU run spends any GPU time.

Fails (exit 1) when PyTorch is not the system's preinstalled CUDA build, or when a module that
the notebooks or nbval import is missing or broken (e.g. soundfile without cffi). Reports, without
failing: whether a CUDA device is visible, where the MiniLM model of notebook 05 comes from, and
which installed versions differ from the pins in requirements.txt::

    .venv/bin/python .ci/check_gpu_env.py
"""
from __future__ import annotations

import importlib
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Modules that nbval, its kernel or a notebook imports (import name: what provides it).
MODULES = {
    "torch": "torch", "torchvision": "torchvision", "torchaudio": "torchaudio", "numpy": "numpy",
    "matplotlib": "matplotlib", "sklearn": "scikit-learn", "skimage": "scikit-image",
    "cv2": "opencv-python-headless", "transformers": "transformers", "soundfile": "soundfile (and cffi)",
    "onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime", "mlxtend": "mlxtend",
    "tqdm": "tqdm", "pytest": "pytest", "nbval.plugin": "nbval (with nbformat, jsonschema, attrs, coverage)",
    "ipykernel.kernelapp": "ipykernel (with IPython, pyzmq, tornado)",
    "course_lib": "this checkout (pip install -e .)", "data_scripts": "this checkout (pip install -e .)",
}
if sys.platform == "linux" and platform.machine() == "x86_64":
    MODULES["espeakng_loader"] = "espeakng-loader"


def missing_modules() -> list[str]:
    """One line per module that fails to import: name, provider, error."""
    found = []
    for module, provider in MODULES.items():
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - a broken install raises more than ImportError
            found.append(f"{module} (from {provider}): {type(error).__name__}: {error}")
    return found


def torch_problem() -> str | None:
    """Why torch is not the system's CUDA build, or None when it is."""
    import torch

    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) from {Path(torch.__file__).parent}")
    where = Path(torch.__file__).resolve()
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build; the GPU run needs the machine's CUDA build"
    if where.is_relative_to(Path(sys.prefix).resolve()):
        return (f"torch was installed into this virtual environment ({sys.prefix}), not taken from the system's "
                "Python; remove it (pip uninstall torch) so the preinstalled CUDA build is used")
    if torch.cuda.is_available():
        print(f"CUDA device: {torch.cuda.get_device_name(0)}")
    else:
        print("warning: no CUDA device is visible (torch.cuda.is_available() is False)")
    return None


def pin_differences() -> list[str]:
    """Installed versions that differ from requirements.txt (not an error: the machine's own builds)."""
    rows = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if not match:
            continue
        name, pinned = match.groups()
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed.split("+")[0] != pinned:
            rows.append(f"  {name}: pinned {pinned}, here {installed}")
    return rows


def minilm_source() -> str:
    """Where notebook 05's MiniLM model comes from, or why it will fail."""
    try:
        from course_lib.features.text_encoder import model_dir

        return f"MiniLM model (notebook 05): {model_dir()}"
    except Exception as error:  # noqa: BLE001
        return f"warning: notebook 05 will fail: {error}"


def main() -> int:
    print(f"Python {platform.python_version()} at {sys.executable}")
    problems = [problem] if (problem := torch_problem()) else []
    broken = missing_modules()
    if broken:
        problems.append("these modules do not import; put their wheels (and their dependencies') in the wheels "
                        "folder, e.g. pip download --no-deps NAME==VERSION -d DIR:\n  " + "\n  ".join(broken))
    differences = pin_differences()
    if differences:
        print("versions that differ from requirements.txt (the machine's own; not an error):")
        print("\n".join(differences))
    print(minilm_source())
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print("environment check: " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
