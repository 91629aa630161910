"""Proof that medzoo wrote a run's Ray Tune state, before anything of it is unpickled.

Ray Tune keeps its experiment state as pickles (``tuner.pkl``,
``searcher-state-*.pkl``, ``params.pkl``) and JSON whose values may embed
cloudpickle (``experiment_state-*.json``). ``Tuner.restore`` unpickles them, so
resuming a run folder that someone else wrote (a shared bucket, a copied
folder) would run their code. medzoo therefore signs these files with an
HMAC-SHA256 under a per-user secret (``$MEDZOO_HOME/keys/run-signing.key``,
mode 0600 in a 0700 folder), and ``resume`` verifies every such file before
``Tuner.restore``.

What is signed (:func:`state_files`): every file at the top of the Tune
experiment folder (that is where ``Tuner.restore`` reads its state) and every
``*.pkl`` below it. Trial checkpoints hold safetensors and JSON only and are
read by medzoo's own checked readers, never unpickled.

Why two records. Tune saves its state into a staging folder on the driver and
then uploads the files one by one, in the background; a driver killed during
that upload leaves a mix of old and new files in storage that no single
signature manifest describes. So at every save, *before* Tune uploads it,
:func:`seal_state` writes the whole state it is about to upload, with its
HMACs, as ONE object (:data:`SEALED`, an atomic write: a rename locally, one
PUT on an object store), and the manifest (:data:`SIGNATURES`) for the files
themselves. Storage therefore always holds a complete signed generation.
:func:`verify_or_recover` accepts the files when the manifest covers them all;
otherwise it restores the sealed generation over them (each replaced or
removed file named in a warning) and verifies again. A file that does not
verify is never read as state; without a valid seal, resume refuses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from medzoo.errors import StorageError, SweepError

if TYPE_CHECKING:
    from medzoo.storage import Location

KEY_FILE = Path("keys") / "run-signing.key"
SIGNATURES = ".medzoo-signatures.json"
#: the last complete signed generation of the state (no .json/.pkl suffix: Tune never downloads it to
#: its staging folder, so Tune's own uploads never overwrite it with an older copy)
SEALED = ".medzoo-sealed-state"
_OWN = (SIGNATURES, SEALED)
_MAX_SEALED_BYTES = 256 << 20
log = logging.getLogger(__name__)
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
            if _is_own(rel):
                continue
            if here == folder or name.endswith(".pkl"):
                yield rel


def _is_own(rel: str) -> bool:
    """medzoo's own records (and the manifest's temporary file, which Tune may upload mid-write)."""
    return rel in _OWN or (rel.startswith(f".{SIGNATURES}.") and rel.endswith(".partial"))


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
    macs.update({rel: key.mac(data) for rel, data in _read_folder(folder).items()})
    _write_local_manifest(folder, macs)
    return macs


def verify_folder(folder: str | Path, key: SigningKey) -> None:
    """Raise SweepError naming the first state file that is unsigned or whose HMAC does not match."""
    folder = Path(folder)
    manifest = folder / SIGNATURES
    if manifest.is_symlink() or not manifest.is_file():
        raise SweepError(
            f"{folder} holds Ray Tune state but no medzoo signatures ({manifest} missing)", fix=_FIX
        )
    macs = _parse_manifest(manifest.read_bytes(), where=str(manifest))
    _check(_read_folder(folder), macs, key, where=str(folder))


def _read_folder(folder: Path) -> dict[str, bytes]:
    files = {}
    for rel in state_files(folder):
        try:
            files[rel] = (folder / rel).read_bytes()
        except FileNotFoundError:  # Tune replaced it meanwhile; the next save signs the new one
            continue
    return files


def _write_local_manifest(folder: Path, macs: Mapping[str, str]) -> None:
    tmp = folder / f".{SIGNATURES}.{os.getpid()}.partial"
    tmp.write_bytes(_manifest_bytes(macs))
    tmp.replace(folder / SIGNATURES)


def _manifest_bytes(macs: Mapping[str, str]) -> bytes:
    return json.dumps({"algorithm": "hmac-sha256", "files": dict(macs)}, indent=1, sort_keys=True).encode()


def _parse_manifest(data: bytes, *, where: str) -> dict[str, str]:
    try:
        macs = json.loads(data.decode("utf-8"))["files"]
        if not isinstance(macs, dict):
            raise TypeError("files is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{where} is not a valid signature file: {exc}", fix=_FIX) from exc
    return macs


def _check(files: Mapping[str, bytes], macs: Mapping[str, object], key: SigningKey, *, where: str) -> None:
    """Every file's HMAC matches ``macs`` (files absent from ``macs`` are unsigned: refused)."""
    for rel in sorted(files, key=lambda r: (r.count("/"), r)):  # Tune's own top-level files first
        expected = macs.get(rel)
        if not isinstance(expected, str) or not hmac.compare_digest(expected, key.mac(files[rel])):
            raise SweepError(
                f"{where.rstrip('/')}/{rel} was not signed by your medzoo key; it will not be unpickled",
                fix=_FIX,
            )


# -- state in storage (a local folder or an object store) -----------------------------------------


def read_state(tune: Location) -> dict[str, bytes]:
    """The state files (:func:`state_files`) of a Tune folder in storage, by relative path."""
    if tune.is_local:
        return _read_folder(tune.local_path()) if tune.local_path().is_dir() else {}
    if not tune.exists():
        return {}
    return {
        rel: src.read_bytes()
        for rel, src in tune.walk()
        if not _is_own(rel) and ("/" not in rel or rel.endswith(".pkl"))
    }


def sign_stored(tune: Location, key: SigningKey) -> dict[str, bytes]:
    """Sign the state files in storage as they are now (Tune wrote ``tuner.pkl`` there directly).

    Called where the driver knows the state is its own: after a new Tuner wrote ``tuner.pkl``,
    after a verified restore, and after ``fit`` returned (Tune's last upload finished). Returns the
    files, which :func:`seal_state` adds to every sealed generation.
    """
    if tune.is_local and not tune.local_path().is_dir():
        return {}
    files = read_state(tune)
    (tune / SIGNATURES).write_bytes(_manifest_bytes({rel: key.mac(data) for rel, data in files.items()}))
    return files


def seal_state(
    *, staging: str | Path, tune: Location, key: SigningKey, extra: Mapping[str, bytes] | None = None
) -> dict[str, str]:
    """Sign Tune's staging folder before Tune uploads it: seal it in storage, then sign it in place.

    ``staging`` holds the state Tune is about to upload into ``tune``; ``extra`` the state files that
    only storage holds (``tuner.pkl``). The sealed generation (one atomic object) is written first, so
    whatever mix of old and new files a killed upload leaves, storage holds a complete signed state;
    the manifest written into staging travels with Tune's upload and covers the new files.
    """
    staging = Path(staging)
    if not staging.is_dir():
        return {}
    files = {**(extra or {}), **_read_folder(staging)}
    macs = {rel: key.mac(data) for rel, data in files.items()}
    entries = {rel: {"mac": macs[rel], "data": base64.b64encode(files[rel]).decode()} for rel in files}
    sealed = {"algorithm": "hmac-sha256", "seal": key.mac(_canonical(macs)), "files": entries}
    (tune / SEALED).write_bytes(json.dumps(sealed, sort_keys=True).encode())
    _write_local_manifest(staging, macs)
    return macs


def _canonical(macs: Mapping[str, str]) -> bytes:
    return json.dumps(dict(macs), sort_keys=True, separators=(",", ":")).encode()


def verify_or_recover(tune: Location, key: SigningKey) -> None:
    """Accept the state in storage, or restore its last sealed generation over it; else refuse.

    The state verifies when :data:`SIGNATURES` covers every state file. When it does not (a driver
    killed while Tune uploaded its state, or a file changed by someone else), the sealed generation,
    if it verifies under ``key``, is written back: files that differ are replaced, files it does not
    hold are removed (each named in a warning), so no unsigned byte is ever unpickled. Without a
    valid seal the state is refused, naming the first file that does not verify.
    """
    files = read_state(tune)
    try:
        _check_against_manifest(tune, files, key)
        return
    except SweepError as refused:
        sealed = _read_sealed(tune, key)
        if sealed is None:
            raise refused from None
        log.warning(
            "medzoo: the Ray Tune state in %s does not verify (%s); restoring its last sealed generation "
            "(%d files), written before a driver stopped while saving",
            tune.uri,
            refused.message,
            len(sealed),
        )
    _restore(tune, files, sealed)
    macs = {rel: key.mac(data) for rel, data in sealed.items()}
    (tune / SIGNATURES).write_bytes(_manifest_bytes(macs))
    _check(read_state(tune), macs, key, where=tune.uri)


def _check_against_manifest(tune: Location, files: Mapping[str, bytes], key: SigningKey) -> None:
    manifest = tune / SIGNATURES
    if (tune.is_local and manifest.local_path().is_symlink()) or not manifest.is_file():
        raise SweepError(
            f"{tune.uri} holds Ray Tune state but no medzoo signatures ({manifest.uri} missing)", fix=_FIX
        )
    _check(files, _parse_manifest(manifest.read_bytes(), where=manifest.uri), key, where=tune.uri)


def _read_sealed(tune: Location, key: SigningKey) -> dict[str, bytes] | None:
    """The sealed generation's files, each checked against its HMAC and the seal; None when absent."""
    where = tune / SEALED
    if not where.is_file():
        return None
    bad = SweepError(f"{where.uri} is not a sealed state written by your medzoo key", fix=_FIX)
    try:
        doc = json.loads(where.read_bytes(max_bytes=_MAX_SEALED_BYTES).decode("utf-8"))
        entries = doc["files"]
        macs = {rel: entry["mac"] for rel, entry in entries.items()}
        if not isinstance(doc["seal"], str) or not all(isinstance(m, str) for m in macs.values()):
            raise TypeError("a MAC is not a string")
        if not hmac.compare_digest(doc["seal"], key.mac(_canonical(macs))):
            raise bad
        files = {rel: base64.b64decode(entry["data"], validate=True) for rel, entry in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError, StorageError) as exc:
        raise bad from exc
    for rel, data in files.items():
        if not hmac.compare_digest(macs[rel], key.mac(data)):
            raise bad
    return files


def _restore(tune: Location, found: Mapping[str, bytes], sealed: Mapping[str, bytes]) -> None:
    for rel in sorted(set(found) | set(sealed)):
        target = _child(tune, rel)
        if rel not in sealed:
            log.warning("medzoo: removing %s: newer than the last sealed state and not signed", target.uri)
            target.delete()
        elif found.get(rel) != sealed[rel]:
            log.warning("medzoo: %s: written back from the last sealed state", target.uri)
            target.write_bytes(sealed[rel])


def _child(root: Location, rel: str) -> Location:
    """``root / rel`` part by part (Location refuses '..', absolute and empty parts)."""
    loc = root
    for part in rel.split("/"):
        loc = loc / part
    return loc
