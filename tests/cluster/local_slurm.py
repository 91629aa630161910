"""A real one-node SLURM (Debian's slurm-wlm + munge) started in a temporary folder, for tests.

munged, slurmctld and slurmd run in the foreground as children of the test (their PIDs are
kept and each is stopped by PID); every state, spool, log, key and socket file lives under the
given folder, and the daemons listen on free ports, so nothing of the machine's own setup is
touched. Clients find the cluster through ``env`` (``SLURM_CONF``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sacct")


def missing_tools() -> list[str]:
    """The SLURM/munge programs this machine lacks (``apt-get install slurm-wlm munge`` adds them)."""
    return [t for t in DAEMONS + CLIENTS[:4] if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass(frozen=True)
class LocalSlurm:
    root: Path
    conf: Path
    env: dict[str, str]
    pids: tuple[int, ...]

    def log(self, name: str) -> str:
        path = self.root / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _write_conf(root: Path, *, cpus: int, memory_mb: int, munge_socket: Path) -> Path:
    for sub in ("state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=medzootest",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SchedulerType=sched/builtin",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "MpiDefault=none",
                "ReturnToService=2",
                "JobCompType=jobcomp/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "KillWait=5",
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


def _wait_for_node(env: dict[str, str], procs: list[subprocess.Popen], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode} while starting")
        out = subprocess.run(
            [_exe("sinfo"), "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30
        )
        state = out.stdout.strip()
        if out.returncode == 0 and state.rstrip("*") in ("idle", "mixed"):
            return
        time.sleep(1)
    raise RuntimeError(f"the SLURM node did not become idle in {timeout_s:.0f}s (state {state!r})")


@contextmanager
def local_slurm(
    root: Path, *, cpus: int = 2, memory_mb: int = 1024, timeout_s: float = 60
) -> Iterator[LocalSlurm]:
    """Start munged, slurmctld and slurmd under ``root``; stop them (by PID) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    munge_socket = root / "run" / "munge.socket"
    conf = _write_conf(root, cpus=cpus, memory_mb=memory_mb, munge_socket=munge_socket)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    log = root / "log"
    commands = [
        [
            _exe("munged"), "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={key}",
            f"--pid-file={root / 'run' / 'munged.pid'}", f"--log-file={log / 'munged.log'}",
            f"--seed-file={root / 'run' / 'munged.seed'}",
        ],
        [_exe("slurmctld"), "-D", "-i", "-f", str(conf)],
        [_exe("slurmd"), "-D", "-N", "localhost", "-f", str(conf)],
    ]  # fmt: skip
    procs: list[subprocess.Popen] = []
    try:
        for cmd in commands:
            with open(log / f"{Path(cmd[0]).name}.out", "wb") as out:
                procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))
            if cmd[0].endswith("munged"):
                _wait_for_path(munge_socket, procs[-1], 10)
        _wait_for_node(env, procs, timeout_s)
        yield LocalSlurm(root=root, conf=conf, env=env, pids=tuple(p.pid for p in procs))
    finally:
        if len(procs) == len(commands):
            _cancel_jobs(env)
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)


def _wait_for_path(path: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"munged did not create {path} (exit code {proc.poll()})")
        time.sleep(0.1)


def _cancel_jobs(env: dict[str, str], timeout_s: float = 30) -> None:
    """Cancel what is left in this private cluster and let slurmd end its job steps before it stops."""
    subprocess.run([_exe("scancel"), "--full", "--user", str(os.getuid())], env=env, timeout=30, check=False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([_exe("squeue"), "-h"], env=env, capture_output=True, text=True, timeout=30)
        if out.returncode != 0 or not out.stdout.strip():
            return
        time.sleep(1)
