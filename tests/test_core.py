"""The core: registry, atomic writes, error formatting and the CLI's handling of user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medzoo.errors import DuplicateNameError, MedzooError, UnknownNameError
from medzoo.paths import atomic_dir, atomic_write_json, resolve_home
from medzoo.registry import Registry


def test_registry_rejects_duplicates_and_suggests_close_matches() -> None:
    reg: Registry[int] = Registry("family")
    reg.add("efficientnet_b0", 0)
    with pytest.raises(DuplicateNameError, match="efficientnet_b0"):
        reg.add("efficientnet_b0", 1)
    with pytest.raises(UnknownNameError, match="did you mean efficientnet_b0"):
        reg.get("efficientnet_b9")


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("partial")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(FileExistsError), atomic_dir(target):
        pass
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "b").write_text("2")
        assert (target / "a").exists()  # the old one stays until the new one is done
    assert sorted(p.name for p in target.iterdir()) == ["b"]


def test_atomic_write_json_handles_numpy(tmp_path: Path) -> None:
    import numpy as np

    path = atomic_write_json(tmp_path / "m.json", {"x": np.float32(0.5), "a": np.arange(3)})
    assert json.loads(path.read_text()) == {"x": 0.5, "a": [0, 1, 2]}


def test_home_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDZOO_HOME", str(tmp_path / "h"))
    assert resolve_home() == (tmp_path / "h").resolve()
    assert resolve_home(tmp_path / "x") == (tmp_path / "x").resolve()


def test_error_carries_fix() -> None:
    err = MedzooError("zoo entry 'a/b' not found", fix="medzoo zoo list")
    assert "medzoo zoo list" in str(err)


def _medzoo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medzoo", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_help_lists_every_group() -> None:
    out = _medzoo("--help")
    assert out.returncode == 0, out.stderr
    for group in (
        "datasets",
        "sweep",
        "train",
        "publish",
        "zoo",
        "pull",
        "predict",
        "leaderboard",
        "cluster",
        "quickstart",
    ):
        assert group in out.stdout


def test_cli_user_error_is_one_line_exit_2() -> None:
    out = _medzoo("datasets", "check", "no-such-dataset", "/nonexistent")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "no-such-dataset" in out.stderr


@pytest.mark.parametrize("module", ["medzoo", "medzoo.cli", "medzoo.datasets", "medzoo.zoo", "medzoo.search"])
def test_import_is_cheap(module: str) -> None:
    """``import medzoo`` (and the CLI) must not pull in the heavy libraries: the CLI starts at once."""
    heavy = ("torch", "ray", "timm", "pandas")
    code = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import {module} imported {out.stdout.strip()}"


def test_errors_print_as_plain_text_one_line_each() -> None:
    """Names may contain console-markup brackets ([/x], [a-z0-9]); they are printed as they are."""
    code = (
        "import sys; from medzoo.cli import main; from medzoo.errors import ZooError\n"
        "from medzoo.cli import app\n"
        "@app.command('boom-test')\n"
        "def boom() -> None:\n"
        "    raise ZooError('entry [/x] must match [a-z0-9]+\\nsecond line', fix='use [b]bold[/b]')\n"
        "main(['boom-test'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: entry [/x] must match [a-z0-9]+ second line",
        "fix: use [b]bold[/b]",
    ]


def test_os_errors_from_user_paths_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = _medzoo("datasets", "synth", "figshare-brain", str(tmp_path / "file" / "out"), "--patients", "2")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ")


@pytest.mark.parametrize("package", ["medzoo.search", "medzoo.zoo", "medzoo.leaderboards"])
def test_lazy_exports_resolve_to_objects_not_submodules(package: str) -> None:
    """A lazily exported name that equals a submodule's name would be shadowed once that module is imported."""
    import importlib
    import pkgutil
    import types

    pkg = importlib.import_module(package)
    submodules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    assert not set(pkg._EXPORTS) & submodules
    for name in pkg._EXPORTS:
        importlib.import_module(f"{package}.{pkg._EXPORTS[name]}")
        assert not isinstance(getattr(pkg, name), types.ModuleType), name
