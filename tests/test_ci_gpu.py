"""The GPU CI scripts' own checks, without a GPU or a network: the offline install stops with a
clear message before doing anything, and the environment check rejects a torch that is not the
system's CUDA build."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def test_cuda_marker_is_registered(pytestconfig):
    assert any(line.startswith("cuda:") for line in pytestconfig.getini("markers"))


def test_offline_install_needs_a_folder_with_wheels(tmp_path):
    missing = run("bash", ".ci/install_offline.sh", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "a folder of wheels" in missing.stderr
    empty = run("bash", ".ci/install_offline.sh", str(tmp_path))
    assert empty.returncode == 1 and f"no .whl files in {tmp_path}" in empty.stderr


def test_offline_install_needs_a_python_with_torch(tmp_path, monkeypatch):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "nbval-0.11.0-py2.py3-none-any.whl").touch()
    no_torch = tmp_path / "python3"
    no_torch.write_text("#!/bin/sh\nexit 1\n")  # a Python in which `import torch` fails
    no_torch.chmod(0o755)
    monkeypatch.setenv("PYTHON", str(no_torch))
    result = run("bash", ".ci/install_offline.sh", str(tmp_path / "wheels"), str(tmp_path / "venv"))
    assert result.returncode == 1 and "cannot import torch" in result.stderr and "setup.sh" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_run_gpu_refuses_a_missing_wheel_folder(tmp_path):
    result = run("bash", ".ci/run_gpu", "--wheels", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no folder" in result.stderr


def test_environment_check_rejects_a_torch_that_is_not_the_systems_cuda_build():
    spec = importlib.util.spec_from_file_location("check_gpu_env", ROOT / ".ci" / "check_gpu_env.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    problem = check.torch_problem()
    if torch.version.cuda is None:
        assert "CPU-only" in problem
    elif Path(torch.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
        assert "installed into this virtual environment" in problem  # the setup.sh .venv
    else:
        pytest.skip("this Python's torch is a system CUDA build: nothing to reject")
