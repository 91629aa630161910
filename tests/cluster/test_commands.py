"""The cluster wrappers build the right commands for each config kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medzoo.cluster.commands import (
    check_uploads,
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
    assert kinds == {
        "aws-gpu": "ray-launcher",
        "gcp-gpu": "ray-launcher",
        "kuberay": "kuberay",
        "kuberay-job": "kuberay-job",
        "slurm": "slurm",
    }
    for cfg in list_configs():
        if cfg.kind != "slurm":
            assert yaml.safe_load(cfg.path.read_text())


def test_commands_per_kind() -> None:
    aws, kube, slurm = (resolve_config(n) for n in ("aws-gpu", "kuberay", "slurm"))
    assert up_command(aws)[:3] == ["ray", "up", "-y"] and down_command(aws)[:3] == ["ray", "down", "-y"]
    assert up_command(kube)[:3] == ["kubectl", "apply", "-f"]
    assert up_command(slurm, command=["medzoo", "sweep", "p"])[0] == "sbatch"
    assert down_command(slurm) == ["scancel", "--name", "medzoo-ray"]
    with pytest.raises(ConfigError, match="for SLURM"):
        up_command(aws, command=["medzoo", "sweep", "p"])
    assert status_command("10.0.0.1:6379") == ["ray", "status", "--address", "10.0.0.1:6379"]


def test_submit_targets_the_dashboard_and_keeps_the_command() -> None:
    cmd = submit_command("head:6379", ["medzoo", "sweep", "/data/p", "--recipe", "brain-effnet"])
    assert cmd[:5] == ["ray", "job", "submit", "--address", "http://head:8265"]
    assert cmd[cmd.index("--") + 1 :] == ["medzoo", "sweep", "/data/p", "--recipe", "brain-effnet"]
    assert submit_command("http://127.0.0.1:8265/", ["x"])[4] == "http://127.0.0.1:8265"
    pinned = submit_command("http://127.0.0.1:8265", ["medzoo", "campaign"], pip=["medzoo==0.1.0"])
    assert pinned[pinned.index("--runtime-env-json") + 1] == '{"pip": ["medzoo==0.1.0"]}'
    with pytest.raises(ConfigError):
        submit_command("head:6379", [])


def test_unknown_config_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aws-gpu"):
        resolve_config("aws-gpx")
    bad = tmp_path / "c.txt"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"\.txt"):
        resolve_config(str(bad))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medzoo", "cluster", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_dry_run_prints_the_wrapped_command() -> None:
    out = _cli("up", "kuberay", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "kubectl apply -f" in out.stdout
    out = _cli(
        "up", "slurm", "--dry-run", "--wait", "--sbatch-opt=--nodes=4", "--", "medzoo", "sweep", "p", "-x"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1:4] == ["sbatch", "--nodes=4", "--wait"]
    assert out.stdout.rstrip().endswith("slurm.sbatch -- medzoo sweep p -x")


def test_cli_lists_the_configs_and_errors_in_one_line() -> None:
    out = _cli("configs")
    assert out.returncode == 0 and {line.split()[0] for line in out.stdout.splitlines()} == {
        "aws-gpu", "gcp-gpu", "kuberay", "kuberay-job", "slurm",
    }  # fmt: skip
    out = _cli("up", "slurm", "--dry-run")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("error:") and "medzoo cluster up slurm -- medzoo sweep" in out.stderr


def test_launcher_up_fails_early_without_the_wheel_it_uploads(tmp_path: Path) -> None:
    aws = resolve_config("aws-gpu")
    with pytest.raises(ConfigError, match=r"dist/medzoo-.*\.whl, which does not exist") as err:
        check_uploads(aws, cwd=tmp_path)
    assert "pip wheel --no-deps -w dist ." in str(err.value.fix)
    wheel = yaml.safe_load(aws.path.read_text())["file_mounts"]
    for local in wheel.values():
        (tmp_path / local).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / local).write_bytes(b"PK")
    check_uploads(aws, cwd=tmp_path)  # present: ray up may go
    check_uploads(resolve_config("slurm"), cwd=tmp_path)  # nothing uploaded by the other kinds
