"""The library's layout: every piece in its room, one class per name, public API in the notebooks,
no state left behind by a forward pass, and a library guide whose copy instructions work."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from torch import nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "course_lib"
GUIDE = LIBRARY / "README.md"
SOURCES = sorted(LIBRARY.rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPERIMENTS = sorted(p.stem for p in (LIBRARY / "experiments").glob("*.py") if p.stem != "__init__")


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiments_hold_recipes_only(name):
    module = importlib.import_module(f"course_lib.experiments.{name}")
    defined = [value for value in vars(module).values()
               if inspect.isclass(value) and value.__module__ == module.__name__]
    forbidden = [cls.__name__ for cls in defined if issubclass(cls, (nn.Module, Dataset))]
    assert not forbidden, f"course_lib/experiments/{name}.py defines {forbidden}: move them to models/ or data/"


def test_no_two_classes_share_a_name():
    homes: dict[str, list[str]] = {}
    for path in SOURCES:
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    repeated = {name: files for name, files in homes.items() if len(files) > 1}
    assert not repeated, f"class names defined more than once: {repeated}"


def test_no_forward_pass_stores_state_on_the_module():
    offenders = []
    for path in SOURCES:
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.FunctionDef) and node.name == "forward":
                for inner in ast.walk(node):
                    targets = inner.targets if isinstance(inner, ast.Assign) else (
                        [inner.target] if isinstance(inner, (ast.AugAssign, ast.AnnAssign)) else [])
                    for target in targets:
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                and target.value.id == "self":
                            offenders.append(f"{path.relative_to(ROOT)}:{target.lineno} self.{target.attr}")
    assert not offenders, f"forward() assigns attributes (return them instead): {offenders}"


def notebook_code(path: Path) -> list[tuple[int, ast.Module]]:
    """(cell index, parsed source) of every code cell; IPython magics and shell lines left out."""
    cells = json.loads(path.read_text())["cells"]
    parsed = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = [line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
        parsed.append((index, ast.parse("\n".join(lines))))
    return parsed


def private_uses(module: ast.Module) -> list[str]:
    """Imports of private names or modules from course_lib, and reads of private attributes."""
    found = []
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib"):
            found += [f"import {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"from {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.startswith("course_lib") and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f".{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebooks_use_the_public_api_only(path):
    found = {index: uses for index, module in notebook_code(path) if (uses := private_uses(module))}
    assert not found, f"{path.name} uses private names (cell: uses): {found}"


def test_the_public_api_check_catches_private_uses():
    code = ast.parse("from course_lib.models.video import _helper\nmodel._modalities")
    assert private_uses(code) == ["import course_lib.models.video._helper",
                                  "._modalities (line 2)"]
    assert private_uses(ast.parse("from course_lib.models import GatedFusion\nmodel.__class__")) == []


def course_lib_imports(path: Path) -> set[str]:
    """The course_lib files that ``path`` imports, as paths relative to course_lib/ (e.g. ``models/checks.py``)."""
    found = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib."):
            found.add(node.module.removeprefix("course_lib.").replace(".", "/") + ".py")
        elif isinstance(node, ast.ImportFrom) and node.module == "course_lib":
            found |= {f"{alias.name}.py" for alias in node.names}
    return found


def needed(file: str) -> set[str]:
    """Every course_lib file that ``file`` needs, directly or through another."""
    seen, stack = set(), [file]
    while stack:
        for dependency in course_lib_imports(LIBRARY / stack.pop()):
            if dependency not in seen:
                seen.add(dependency)
                stack.append(dependency)
    return seen


def third_party_imports(file: str) -> set[str]:
    """The top-level third-party packages that ``file`` and the course_lib files it needs import."""
    found = set()
    for path in [LIBRARY / file, *(LIBRARY / other for other in needed(file))]:
        for node in ast.walk(tree(path)):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            found |= {name.split(".")[0] for name in names}
    return {name for name in found if name not in sys.stdlib_module_names | {"__future__", "course_lib"}}


def guide_copy_table() -> dict[str, tuple[set[str], set[str]]]:
    """The guide's "Copying one file" table: file -> (the files it says to copy too, its third-party packages)."""
    section = GUIDE.read_text().split("## Copying one file", 1)[1]
    table = {}
    for file, also, packages in re.findall(r"^\| `([\w/]+\.py)` \| (.+?) \| (.+?) \|$", section, flags=re.M):
        packages = re.sub(r"\([^)]*\)", "", packages)  # "cv2 (opencv-python-headless)" -> "cv2"
        table[file] = (set(re.findall(r"`([\w/]+\.py)`", also)), {p.strip() for p in packages.split(",")})
    return table


def test_the_guide_lists_what_each_file_needs():
    table = guide_copy_table()
    listed_rooms = [p for p in SOURCES if p.parent.name in ("models", "features") and p.stem != "__init__"]
    missing = [str(p.relative_to(LIBRARY)) for p in listed_rooms if str(p.relative_to(LIBRARY)) not in table]
    assert not missing, f"the library guide's copy table lacks {missing}"
    wrong = {file: (sorted(also), sorted(needed(file))) for file, (also, _) in table.items() if also != needed(file)}
    assert not wrong, f"the guide says (listed, actually needed): {wrong}"
    wrong = {file: (sorted(packages), sorted(third_party_imports(file)))
             for file, (_, packages) in table.items() if packages != third_party_imports(file)}
    assert not wrong, f"the guide's third-party packages (listed, actually imported): {wrong}"


def test_every_model_class_is_exported_by_course_lib_models():
    models = importlib.import_module("course_lib.models")
    missing = []
    for path in sorted((LIBRARY / "models").glob("*.py")):
        module = importlib.import_module(f"course_lib.models.{path.stem}")
        missing += [f"{path.stem}.{name}" for name, value in vars(module).items()
                    if inspect.isclass(value) and value.__module__ == module.__name__
                    and issubclass(value, nn.Module) and not name.startswith("_") and name not in models.__all__]
    assert not missing, f"add these to course_lib/models/__init__.py: {missing}"


def test_every_file_the_guide_names_exists():
    named = set(re.findall(r"`((?:\w+/)?\w+\.py)`", GUIDE.read_text()))
    missing = sorted(name for name in named
                     if not (LIBRARY / name).is_file() and not (ROOT / name).is_file() and not any(LIBRARY.rglob(name)))
    assert not missing, f"the library guide names files that do not exist: {missing}"


BLOCK_COURSE_LIB = """
import sys
class BlockCourseLib:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "course_lib":
            raise ImportError(f"{name} must not be needed")
sys.meta_path.insert(0, BlockCourseLib())
"""


@pytest.mark.parametrize("file, check", [
    ("models/tcn.py", """
        from mypkg.tcn import TCN, receptive_field
        y = TCN(3, [8, 8], kernel_size=3)(torch.randn(2, 3, 20))
        assert y.shape == (2, 8, 20) and receptive_field(3, 2) == 13
    """),
    ("models/fusion.py", """
        from mypkg.fusion import FUSION_METHODS, make_fusion
        features = {"image": torch.randn(4, 6), "audio": torch.randn(4, 5)}
        for name in FUSION_METHODS:
            kwargs = {"num_classes": 3} if name == "late" else ({} if name == "concat" else {"out_dim": 7})
            fused = make_fusion(name, {"image": 6, "audio": 5}, **kwargs)(features)
            assert fused.shape[0] == 4, name
    """),
])
def test_a_file_copied_as_the_guide_says_runs_without_course_lib(tmp_path, file, check):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for source in {file, *guide_copy_table()[file][0]}:
        text = (LIBRARY / source).read_text()
        text = re.sub(r"from course_lib\.(?:models|features)\.(\w+) import", r"from .\1 import", text)
        (package / Path(source).name).write_text(text)
    script = BLOCK_COURSE_LIB + "import torch\n" + textwrap.dedent(check)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_importing_one_model_file_does_not_import_torchvision():
    script = ("import sys\nimport course_lib.models.tcn, course_lib.models.fusion\n"
              "from course_lib.models import GatedFusion, TCN\n"
              "assert 'torchvision' not in sys.modules, 'torchvision was imported'\n"
              "from course_lib.models import R2Plus1dClassifier\n"
              "assert 'torchvision' in sys.modules")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_public_model_name_resolves_to_its_home():
    models = importlib.import_module("course_lib.models")
    for name in models.__all__:
        value = getattr(models, name)
        assert getattr(value, "__name__", name) == name or not callable(value)
    with pytest.raises(AttributeError, match="no attribute 'FrameEncoders'"):
        _ = models.FrameEncoders
