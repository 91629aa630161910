"""``medzoo cluster up|down|status|submit|dashboard``: thin wrappers over Ray's own tools.

Each action is built as an argument list first (so it is testable and shown to the user
before it runs) and then executed. The cluster definitions are plain files in
``cluster/configs/``: Ray cluster-launcher YAMLs (``ray up``), a KubeRay RayCluster and
RayJob (``kubectl apply``) and a SLURM batch script (``sbatch``) that runs the sweep inside
its allocation.

Clusters with Ray's token authentication (``RAY_AUTH_MODE=token``) are checked before a
command is sent: a missing token is one clear error instead of Ray's traceback, and a
token found in ``~/.ray/auth_token`` is used even when ``RAY_AUTH_MODE`` is not set here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medzoo.errors import ClusterError, ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
DASHBOARD_PORT = 8265
SLURM_JOB_NAME = "medzoo-ray"
TOKEN_FIX = (
    "copy the cluster's token (`ray get-auth-token` on its head) to ~/.ray/auth_token, "
    "or set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to it"
)

Kind = Literal["ray-launcher", "kuberay", "kuberay-job", "slurm"]
_SUFFIXES = (".yaml", ".yml", ".sbatch")


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """A cluster definition: a shipped config or a user's own file of the same kind."""

    name: str
    path: Path
    kind: Kind


def list_configs() -> list[ClusterConfig]:
    """The cluster configs shipped with medzoo."""
    return [resolve_config(p.stem) for p in sorted(CONFIG_DIR.iterdir()) if p.suffix in _SUFFIXES]


def _kind_of(path: Path) -> Kind:
    """A config's kind from its suffix and, for YAML, its ``kind:`` (KubeRay) or its absence (launcher)."""
    if path.suffix == ".sbatch":
        return "slurm"
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML cluster config ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a cluster config must be a YAML mapping")
    return {"RayCluster": "kuberay", "RayJob": "kuberay-job"}.get(str(doc.get("kind")), "ray-launcher")  # type: ignore[return-value]


def resolve_config(name_or_path: str) -> ClusterConfig:
    """A shipped config by name (``aws-gpu``, ``kuberay``, ``slurm``, ...) or a path to a user's own."""
    path = Path(name_or_path)
    if not path.is_file():
        matches = [p for p in CONFIG_DIR.iterdir() if p.stem == name_or_path and p.suffix in _SUFFIXES]
        if not matches:
            known = ", ".join(sorted(p.stem for p in CONFIG_DIR.iterdir() if p.suffix in _SUFFIXES))
            raise ConfigError(
                f"no cluster config {name_or_path!r}: expected a file path or one of {known}",
                fix="medzoo cluster configs",
            )
        path = matches[0]
    if path.suffix not in _SUFFIXES:
        raise ConfigError(f"{path}: a cluster config must end in .yaml, .yml or .sbatch, got {path.suffix!r}")
    return ClusterConfig(name=path.stem, path=path.resolve(), kind=_kind_of(path))


def up_command(
    config: ClusterConfig,
    *,
    command: Sequence[str] = (),
    sbatch_options: Sequence[str] = (),
    wait: bool = False,
) -> list[str]:
    """Start ``config``; for SLURM, submit the batch script with ``command`` as the job's driver."""
    if config.kind == "slurm":
        if not command:
            raise ConfigError(
                f"{config.path.name} runs a command inside the allocation and none was given",
                fix="medzoo cluster up slurm -- medzoo sweep PREPARED --recipe ID",
            )
        return ["sbatch", *sbatch_options, *(["--wait"] if wait else []), str(config.path), "--", *command]
    if command or sbatch_options or wait:
        raise ConfigError(
            f"a command, --sbatch-opt and --wait are for SLURM; {config.name} is a {config.kind} config",
            fix="start it, then run the command with `medzoo cluster submit --address ... -- COMMAND`",
        )
    if config.kind in ("kuberay", "kuberay-job"):
        return ["kubectl", "apply", "-f", str(config.path)]
    return ["ray", "up", "-y", str(config.path)]


def check_uploads(config: ClusterConfig, *, cwd: Path) -> None:
    """Fail before ``ray up`` when a file the launcher uploads (the medzoo wheel) is not there.

    ``file_mounts`` sources are relative to where ``ray up`` runs; Ray would notice only after
    starting the head instance.
    """
    if config.kind != "ray-launcher":
        return
    import yaml

    mounts = (yaml.safe_load(config.path.read_text(encoding="utf-8")) or {}).get("file_mounts") or {}
    for remote, local in mounts.items():
        source = (cwd / Path(str(local)).expanduser()).resolve()
        if not source.exists():
            raise ConfigError(
                f"{config.path.name}: file_mounts {remote} comes from {source}, which does not exist",
                fix="build it in the medzoo checkout with `pip wheel --no-deps -w dist .` and run from there",
            )


def down_command(config: ClusterConfig) -> list[str]:
    if config.kind in ("kuberay", "kuberay-job"):
        return ["kubectl", "delete", "-f", str(config.path)]
    if config.kind == "slurm":
        return ["scancel", "--name", SLURM_JOB_NAME]
    return ["ray", "down", "-y", str(config.path)]


def dashboard_command(config: ClusterConfig) -> list[str]:
    """Forward the head's dashboard (the address ``submit`` needs) to http://127.0.0.1:8265."""
    if config.kind == "ray-launcher":
        return ["ray", "dashboard", str(config.path)]
    if config.kind == "slurm":
        raise ConfigError(
            "a SLURM job's dashboard is on its first node; the job log prints the ssh tunnel to it",
            fix=f"ssh -N -L {DASHBOARD_PORT}:HEAD:{DASHBOARD_PORT} LOGIN-NODE, then "
            f"--address http://127.0.0.1:{DASHBOARD_PORT}",
        )
    import yaml

    doc = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    if config.kind == "kuberay":
        name = doc["metadata"]["name"]
    else:
        name = (doc["spec"].get("clusterSelector") or {}).get("ray.io/cluster") or doc["metadata"]["name"]
    # KubeRay names the head service <cluster>-head-svc and exposes the dashboard port on it
    return ["kubectl", "port-forward", f"svc/{name}-head-svc", f"{DASHBOARD_PORT}:{DASHBOARD_PORT}"]


def status_command(address: str | None) -> list[str]:
    return ["ray", "status"] + (["--address", address] if address else [])


def dashboard_url(address: str) -> str:
    """The job server of the cluster at ``address``: ``http://...`` as given, else the host's port 8265."""
    if "://" in address:
        return address.rstrip("/")
    return f"http://{address.rsplit(':', 1)[0]}:{DASHBOARD_PORT}"


def submit_command(
    address: str, command: Sequence[str], *, working_dir: Path | None = None, pip: Sequence[str] = ()
) -> list[str]:
    """A Ray job that runs ``command`` (e.g. a ``medzoo sweep ...``) on the cluster's head."""
    if not command:
        raise ConfigError(
            "submit needs a command after --, e.g. -- medzoo sweep PREPARED --recipe brain-effnet"
        )
    cmd = ["ray", "job", "submit", "--address", dashboard_url(address)]
    if working_dir is not None:
        cmd += ["--working-dir", str(working_dir)]
    if pip:
        cmd += ["--runtime-env-json", json.dumps({"pip": list(pip)})]
    return [*cmd, "--", *command]


@dataclass(frozen=True, kw_only=True)
class AuthToken:
    """Where this machine's Ray token comes from (``source``) and the token itself."""

    source: str
    value: str


def find_auth_token(*, env: Mapping[str, str], home: Path) -> AuthToken | None:
    """The token Ray would send, looked up in Ray's order: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token."""
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return AuthToken(source="RAY_AUTH_TOKEN", value=env["RAY_AUTH_TOKEN"].strip())
    if env.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(env["RAY_AUTH_TOKEN_PATH"])
        value = path.read_text(errors="replace").strip() if path.is_file() else ""
        if not value:
            raise ClusterError(
                f"RAY_AUTH_TOKEN_PATH={path} is not a readable file with a token in it", fix=TOKEN_FIX
            )
        return AuthToken(source=str(path), value=value)
    path = home / ".ray" / "auth_token"
    value = path.read_text(errors="replace").strip() if path.is_file() else ""
    return AuthToken(source=str(path), value=value) if value else None


def probe_dashboard(url: str, *, token: str | None = None, timeout_s: float = 5.0) -> int | None:
    """The HTTP status of the job API at ``url`` (401/403 when it wants a token), None if unreachable."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url}/api/jobs/", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (the user's cluster)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def auth_env(
    *, dashboard: str | None, env: Mapping[str, str], home: Path, required: bool = False
) -> dict[str, str]:
    """Variables a Ray CLI child needs to reach a cluster that may want a token, or one clear error.

    ``dashboard`` is probed once: 401 means the cluster wants a token; a token that this machine has
    is then tried, and 403 means it is the wrong one. ``required`` makes an unreachable dashboard an error.
    """
    token = find_auth_token(env=env, home=home)
    mode = env.get("RAY_AUTH_MODE", "").lower()
    status = probe_dashboard(dashboard) if dashboard else None
    if dashboard and status is None and required:
        raise ClusterError(
            f"cannot reach the Ray dashboard at {dashboard} (the job API `submit` talks to)",
            fix="forward it first (`medzoo cluster dashboard CONFIG`, or `ssh -N -L 8265:HEAD:8265 ...`) and "
            f"use --address http://127.0.0.1:{DASHBOARD_PORT}",
        )
    wants_token = mode == "token" or status == 401
    where = dashboard or "the cluster"
    if not wants_token:
        return {}
    if token is None:
        raise ClusterError(
            f"the Ray cluster at {where} uses token authentication and no token was found here "
            "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)",
            fix=TOKEN_FIX,
        )
    if dashboard and status is not None and probe_dashboard(dashboard, token=token.value) in (401, 403):
        raise ClusterError(f"the Ray cluster at {where} refused the token from {token.source}", fix=TOKEN_FIX)
    return {} if mode == "token" else {"RAY_AUTH_MODE": "token"}


def execute(cmd: list[str], *, extra_env: Mapping[str, str] | None = None) -> int:
    """Run one wrapped command, streaming its output; a missing tool is a clear error."""
    exe = cmd[0]
    if exe == "ray":
        # the ray CLI lives next to this interpreter when Ray is installed in the venv
        local = Path(sys.executable).with_name("ray")
        exe = str(local) if local.exists() else shutil.which("ray") or ""
    else:
        exe = shutil.which(exe) or ""
    if not exe:
        raise ClusterError(
            f"{cmd[0]!r} is not installed or not on PATH; it is needed for this cluster command",
            fix={
                "ray": "pip install 'ray[default]'",
                "kubectl": "install kubectl and the KubeRay operator",
                "sbatch": "run this on a SLURM login node",
                "scancel": "run this on a SLURM login node",
            }.get(cmd[0]),
        )
    env = {**os.environ, **extra_env} if extra_env else None
    return subprocess.call([exe, *cmd[1:]], env=env)
