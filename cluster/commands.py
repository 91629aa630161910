"""``medzoo cluster up|down|status|submit``: thin wrappers over Ray's own tools.

Each action is built as an argument list first (so it is testable and shown to
the user before it runs) and then executed. The cluster definitions are plain
files in ``cluster/configs/``: a Ray cluster-launcher YAML (``ray up``), a
KubeRay RayCluster (``kubectl apply``) and a SLURM batch script (``sbatch``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medzoo.errors import ClusterError, ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"

#: config kind by file name pattern
_KINDS = {".yaml": "ray-launcher", ".yml": "ray-launcher", ".sbatch": "slurm"}


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    path: Path
    kind: str  # "ray-launcher" | "kuberay" | "slurm"


def list_configs() -> list[ClusterConfig]:
    """The cluster configs shipped with medzoo."""
    return [resolve_config(p.stem) for p in sorted(CONFIG_DIR.iterdir()) if p.suffix in _KINDS]


def resolve_config(name_or_path: str) -> ClusterConfig:
    """A shipped config by name (``aws-gpu``, ``kuberay``, ``slurm``) or a path to a user's own."""
    path = Path(name_or_path)
    if not path.exists():
        matches = [p for p in CONFIG_DIR.iterdir() if p.stem == name_or_path]
        if not matches:
            known = ", ".join(sorted(p.stem for p in CONFIG_DIR.iterdir() if p.suffix in _KINDS))
            raise ConfigError(
                f"no cluster config {name_or_path!r}: expected a file path or one of {known}",
                fix="medzoo cluster configs",
            )
        path = matches[0]
    if path.suffix not in _KINDS:
        raise ConfigError(f"{path}: a cluster config must end in .yaml, .yml or .sbatch, got {path.suffix!r}")
    kind = _KINDS[path.suffix]
    if kind == "ray-launcher" and "kind: RayCluster" in path.read_text(encoding="utf-8"):
        kind = "kuberay"
    return ClusterConfig(path.stem, path.resolve(), kind)


def up_command(config: ClusterConfig) -> list[str]:
    if config.kind == "kuberay":
        return ["kubectl", "apply", "-f", str(config.path)]
    if config.kind == "slurm":
        return ["sbatch", str(config.path)]
    return ["ray", "up", "-y", str(config.path)]


def down_command(config: ClusterConfig) -> list[str]:
    if config.kind == "kuberay":
        return ["kubectl", "delete", "-f", str(config.path)]
    if config.kind == "slurm":
        return ["scancel", "--name", "medzoo-ray"]
    return ["ray", "down", "-y", str(config.path)]


def status_command(address: str | None) -> list[str]:
    return ["ray", "status"] + (["--address", address] if address else [])


def submit_command(address: str, command: list[str], *, working_dir: Path | None = None) -> list[str]:
    """A Ray job that runs ``command`` (e.g. a ``medzoo sweep ...``) on the cluster's head."""
    if not command:
        raise ConfigError(
            "submit needs a command after --, e.g. -- medzoo sweep PREPARED --recipe brain-effnet"
        )
    # the job client talks to the dashboard port, not the GCS port
    dash = address if "://" in address else f"http://{address.split(':')[0]}:8265"
    cmd = ["ray", "job", "submit", "--address", dash]
    if working_dir is not None:
        cmd += ["--working-dir", str(working_dir)]
    return cmd + ["--", *command]


def execute(cmd: list[str]) -> int:
    """Run one wrapped command, streaming its output; a missing tool is a clear error."""
    exe = cmd[0]
    if exe == "ray":
        # the ray CLI lives next to this interpreter when Ray is installed in the venv
        import sys

        local = Path(sys.executable).with_name("ray")
        exe = str(local) if local.exists() else shutil.which("ray") or ""
    else:
        exe = shutil.which(exe) or ""
    if not exe:
        raise ClusterError(
            f"{cmd[0]!r} is not installed or not on PATH; it is needed for this cluster command",
            fix={
                "ray": "pip install 'ray[tune]'",
                "kubectl": "install kubectl and the KubeRay operator",
                "sbatch": "run this on a SLURM login node",
                "scancel": "run this on a SLURM login node",
            }.get(cmd[0]),
        )
    return subprocess.call([exe, *cmd[1:]])
