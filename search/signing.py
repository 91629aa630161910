"""Proof that medzoo wrote a run's Ray Tune state, before anything of it is unpickled.

Ray Tune keeps its experiment state as pickles (``tuner.pkl``,
``searcher-state-*.pkl``, ``params.pkl``) and JSON whose values may embed
cloudpickle (``experiment_state-*.json``). ``Tuner.restore`` unpickles them, so
resuming a run folder that someone else wrote (a shared bucket, a copied
folder) would run their code. medzoo therefore signs these files with an
HMAC-SHA256 under a per-user secret (``$MEDZOO_HOME/keys/run-signing.key``,
mode 0600 in a 0700 folder) whenever Tune saves its state and when the sweep
stops, and ``resume`` verifies every such file before ``Tuner.restore``.

What is signed (:func:`state_files`): every file at the top of the Tune
experiment folder (that is where ``Tuner.restore`` reads its state) and every
``*.pkl`` below it. Trial checkpoints hold safetensors and JSON only and are
read by medzoo's own checked readers, never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from medzoo.errors import SweepError

KEY_FILE = Path("keys") / "run-signing.key"
SIGNATURES = ".medzoo-signatures.json"
_FIX = "this run was not written by you (or was modified); start a new sweep with --out NEW"
_KEY_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    """The per-user secret that signs run state (the secret never appears in repr)."""

    path: Path
    secret: bytes = field(repr=False)

    @classmethod
    def load_or_create(cls, home: str | Path) -> SigningKey:
        """``home/keys/run-signing.key``: read it, or create it (0600 in a 0700 folder) the first time.

        A key file that others may read or write, or that is a link, is refused: a key someone
        else can read lets them forge state that medzoo would then trust.
        """
        path = Path(home).expanduser() / KEY_FILE
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return cls.from_file(path)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_KEY_BYTES))
        return cls.from_file(path)

    @classmethod
    def from_file(cls, path: str | Path) -> SigningKey:
        """An existing key file (checked: a regular file, not readable by others, not truncated)."""
        return cls(path=Path(path), secret=_read_key(Path(path)))

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


def _read_key(path: Path) -> bytes:
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SweepError(f"the run-signing key {path} is not a regular file", fix=f"remove {path}")
    if os.name == "posix" and st.st_mode & 0o077:
        raise SweepError(
            f"the run-signing key {path} is accessible to other users (mode {stat.S_IMODE(st.st_mode):o})",
            fix=f"chmod 600 {path}",
        )
    secret = path.read_bytes()
    if len(secret) < _KEY_BYTES:
        raise SweepError(
            f"the run-signing key {path} is truncated ({len(secret)} bytes)", fix=f"remove {path}"
        )
    return secret


def state_files(folder: Path) -> Iterator[str]:
    """Relative paths of the files to sign: every top-level file and every ``*.pkl`` below.

    A symbolic link anywhere in the folder is refused: it could make Tune read a file outside the run.
    """
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for name in [*dirs, *files]:
            if (here / name).is_symlink():
                raise SweepError(f"{here / name} is a symbolic link inside the run's Tune state", fix=_FIX)
        for name in sorted(files):
            rel = (here / name).relative_to(folder).as_posix()
            if rel == SIGNATURES:
                continue
            if here == folder or name.endswith(".pkl"):
                yield rel


def sign_folder(
    folder: str | Path, key: SigningKey, *, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Write ``folder/.medzoo-signatures.json`` = {relpath: HMAC} over :func:`state_files`.

    ``extra`` carries signatures of files that live in the final folder but not in this
    one (Tune writes ``tuner.pkl`` straight to storage and the rest into a staging copy).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    macs = dict(extra or {})
    for rel in state_files(folder):
        try:
            macs[rel] = key.mac((folder / rel).read_bytes())
        except FileNotFoundError:  # Tune replaced it meanwhile; the next save signs the new one
            continue
    tmp = folder / f".{SIGNATURES}.{os.getpid()}.partial"
    tmp.write_text(json.dumps({"algorithm": "hmac-sha256", "files": macs}, indent=1, sort_keys=True))
    tmp.replace(folder / SIGNATURES)
    return macs


def verify_folder(folder: str | Path, key: SigningKey) -> None:
    """Raise SweepError naming the first state file that is unsigned or whose HMAC does not match."""
    folder = Path(folder)
    manifest = folder / SIGNATURES
    if manifest.is_symlink() or not manifest.is_file():
        raise SweepError(
            f"{folder} holds Ray Tune state but no medzoo signatures ({manifest} missing)", fix=_FIX
        )
    try:
        macs = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        if not isinstance(macs, dict):
            raise TypeError("files is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{manifest} is not a valid signature file: {exc}", fix=_FIX) from exc
    for rel in state_files(folder):
        expected = macs.get(rel)
        actual = key.mac((folder / rel).read_bytes())
        if not isinstance(expected, str) or not hmac.compare_digest(expected, actual):
            raise SweepError(
                f"{folder / rel} was not signed by your medzoo key; it will not be unpickled", fix=_FIX
            )
