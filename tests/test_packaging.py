"""Packaging: `pip install .` / `pip install -e .` find both packages, and core.load says where models come from.

The install itself is checked by hand in a fresh venv (README, "Install as a package"); these checks are the
fast part that can fail in CI: what pyproject declares, and what core.load says when models are elsewhere."""
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages

import core
from core import models

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_declares_core_and_explorer_and_every_subpackage():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    find = project["tool"]["setuptools"]["packages"]["find"]
    found = set(find_namespace_packages(where=str(ROOT), include=find["include"]))  # what setuptools will install
    code_dirs = {".".join(p.parent.relative_to(ROOT).parts) for top in ("core", "explorer")
                 for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    assert {"core", "explorer"} <= found
    assert code_dirs <= found, f"folders of code that would not be installed: {code_dirs - found}"
    assert all(p.split(".")[0] in ("core", "explorer") for p in found), found  # not assets, tests, docs
    deps = project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"]
    assert all((ROOT / f).is_file() for f in deps) and "dependencies" in project["project"]["dynamic"]


def test_load_without_a_models_folder_says_how_to_point_at_one(tmp_path, monkeypatch):
    """After a plain `pip install .` the models stay in the clone: the message names the argument and the variable."""
    monkeypatch.delenv(models.MODELS_ENV, raising=False)
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path / "site-packages" / "assets" / "models")
    assert core.available() == []
    with pytest.raises(core.CheckpointError) as err:
        core.load("lstm")
    message = str(err.value)
    assert "GATESCOPE_MODELS" in message and "models_dir=" in message and "assets/models" in message


def test_the_models_variable_is_read_at_each_call(tmp_path, monkeypatch):
    """Set after `import core` (a notebook's first cell is often the import), it still counts."""
    (tmp_path / "gru").symlink_to(models.MODELS_DIR / "gru", target_is_directory=True)
    monkeypatch.setenv("GATESCOPE_MODELS", str(tmp_path))
    assert core.available() == ["gru"]
    assert core.load("gru").name == "gru"
    assert core.available(models.MODELS_DIR) == list(models.SHIPPED)


def test_core_points_only_inside_the_repository():
    """Docstrings cite docs/design.md, which ships with the code, not a file beside the clone."""
    assert (ROOT / "docs" / "design.md").is_file()
    outside = [p.name for p in (ROOT / "core").glob("*.py") if "../shared" in p.read_text(encoding="utf-8")]
    assert outside == []
