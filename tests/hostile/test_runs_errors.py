"""Issue 11 class 7 for sweeps, training, prediction and publishing: a broken ``--space`` file, a
``--set`` value that is not UTF-8/YAML, a directory given to ``predict`` and a truncated ``run.json``
each give one ``error:`` line naming the file or value, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from entries_zoo import assert_one_error_line, run_cli

#: --space files: (case id, bytes, what the error names besides the file)
SPACES = [
    ("not-utf8", b"base: brain-effnet\nspace:\n  lr: {type: choice, values: [\xff\xfe]}\n", "UTF-8"),
    ("latin1", "base: brain-effnet\n# réglage\n".encode("latin-1"), "UTF-8"),
    ("unclosed-flow", b"base: brain-effnet\nspace: {lr: [1, 2\n", "YAML"),
    ("bad-indent", b"base: brain-effnet\n space:\n- lr\n  x: : :\n", "YAML"),
    ("tab-indent", b"base: brain-effnet\nspace:\n\tlr: 1\n", "YAML"),
]

#: --set values that are not valid YAML
BAD_SETS = ["lr=[unclosed", "lr={a: 1", "family='open", 'lr="x']


def _cli_bytes(argv: list[bytes], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """``medzoo`` in a child process with raw argv bytes (what a shell passes for non-UTF-8 input)."""
    code = "import sys; from medzoo.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable.encode(), b"-c", code.encode(), *argv], capture_output=True, env=env, timeout=300
    )


@pytest.mark.parametrize("case, data, kind", SPACES, ids=[c for c, _, _ in SPACES])
def test_a_broken_space_file_is_one_error_line(prepared_phantom, tmp_path, capsys, case, data, kind):
    space = tmp_path / f"{case}.yaml"
    space.write_bytes(data)
    out = tmp_path / "run"
    argv = ["sweep", str(prepared_phantom("figshare-brain")), "--space", str(space), "--out", str(out)]
    code, _, err = run_cli(argv, capsys)
    assert_one_error_line(code, err, space.name, kind)
    assert not out.exists()  # refused before the run folder was made


@pytest.mark.parametrize("value", BAD_SETS)
def test_a_set_value_that_is_not_yaml_is_one_error_line(prepared_phantom, tmp_path, capsys, value):
    out = tmp_path / "train"
    argv = ["train", str(prepared_phantom("figshare-brain")), "--recipe", "brain-effnet", "--set", value]
    code, _, err = run_cli([*argv, "--out", str(out), "--smoke"], capsys)
    assert_one_error_line(code, err, "--set", value.partition("=")[0], "YAML")
    assert not out.exists()


@pytest.mark.parametrize("raw", [b"lr=\xff\xfe", b"family=tiny\xe9cnn", b"lr=\xc3"])
def test_a_set_value_that_is_not_utf8_is_one_error_line(prepared_phantom, tmp_path, raw):
    out = tmp_path / "train"
    prepared = str(prepared_phantom("figshare-brain")).encode()
    argv = [b"train", prepared, b"--recipe", b"brain-effnet", b"--set", raw, b"--out", str(out).encode()]
    proc = _cli_bytes(argv, tmp_path)
    err = proc.stderr.decode("utf-8", "replace")
    assert_one_error_line(proc.returncode, err, "--set", "UTF-8", raw.partition(b"=")[0].decode())
    assert not out.exists()


@pytest.mark.parametrize("kind", ["empty-dir", "dir-of-images", "fifo"])
def test_predict_given_a_directory_or_device_is_one_error_line(tiny_zoo, tmp_path, capsys, kind):
    target = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
        if kind == "dir-of-images":
            (target / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    cam = tmp_path / "cam.png"
    argv = ["predict", "figshare-brain/tiny_cnn", str(target), "--zoo", str(tiny_zoo), "--cam", str(cam)]
    code, _, err = run_cli(argv, capsys)
    assert_one_error_line(code, err, str(target))
    assert not cam.exists()


@pytest.mark.parametrize("keep", [0, 1, 17, -1])
def test_publish_of_a_run_with_a_truncated_run_json_is_one_error_line(tiny_run, tmp_path, capsys, keep):
    import shutil

    run = shutil.copytree(tiny_run, tmp_path / "run")
    text = (run / "run.json").read_bytes()
    (run / "run.json").write_bytes(text[: keep if keep >= 0 else len(text) // 2])
    zoo = tmp_path / "zoo"
    code, _, err = run_cli(["publish", str(run), "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, "run.json")
    assert not zoo.exists() or not any(p.is_file() for p in zoo.rglob("*"))  # nothing published
