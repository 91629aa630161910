"""The cluster wrappers build the right commands for each config kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medzoo.cluster.commands import (
    down_command,
    list_configs,
    resolve_config,
    status_command,
    submit_command,
    up_command,
)
from medzoo.errors import ConfigError


def test_shipped_configs_parse_and_have_kinds() -> None:
    kinds = {c.name: c.kind for c in list_configs()}
    assert kinds == {"aws-gpu": "ray-launcher", "kuberay": "kuberay", "slurm": "slurm"}
    for cfg in list_configs():
        if cfg.kind != "slurm":
            assert yaml.safe_load(cfg.path.read_text())


def test_commands_per_kind() -> None:
    aws, kube, slurm = (resolve_config(n) for n in ("aws-gpu", "kuberay", "slurm"))
    assert up_command(aws)[:3] == ["ray", "up", "-y"] and down_command(aws)[:3] == ["ray", "down", "-y"]
    assert up_command(kube)[:3] == ["kubectl", "apply", "-f"]
    assert up_command(slurm)[0] == "sbatch" and down_command(slurm) == ["scancel", "--name", "medzoo-ray"]
    assert status_command("10.0.0.1:6379") == ["ray", "status", "--address", "10.0.0.1:6379"]


def test_submit_targets_the_dashboard_and_keeps_the_command() -> None:
    cmd = submit_command("head:6379", ["medzoo", "sweep", "/data/p", "--recipe", "brain-effnet"])
    assert cmd[:5] == ["ray", "job", "submit", "--address", "http://head:8265"]
    assert cmd[cmd.index("--") + 1 :] == ["medzoo", "sweep", "/data/p", "--recipe", "brain-effnet"]
    with pytest.raises(ConfigError):
        submit_command("head:6379", [])


def test_unknown_config_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aws-gpu"):
        resolve_config("aws-gpx")
    bad = tmp_path / "c.txt"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"\.txt"):
        resolve_config(str(bad))


def test_cli_dry_run_prints_the_wrapped_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "medzoo", "cluster", "up", "kuberay", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "kubectl apply -f" in out.stdout
