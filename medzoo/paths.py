"""Where things live, and how they get there safely.

``MEDZOO_HOME`` is resolved once (in the CLI or by the caller) and passed down;
library functions take explicit paths. Every write of a folder or file goes to a
temporary sibling first (through :mod:`medzoo.storage`) and is renamed into place only when complete, so an
interrupted run never leaves a half-written target behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medzoo.storage import location, publish_dir


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``home`` if given, else ``$MEDZOO_HOME``, else ``~/.cache/medzoo``."""
    if home is not None:
        return Path(home).expanduser().resolve()
    env = os.environ.get("MEDZOO_HOME")
    return Path(env).expanduser().resolve() if env else (Path.home() / ".cache" / "medzoo").resolve()


def default_zoo(home: Path) -> Path:
    return home / "zoo"


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; rename it to ``target`` on success.

    On an exception the temporary folder is removed and ``target`` is untouched.
    With ``replace=True`` an existing ``target`` is swapped out only after the new
    one is complete; without it, a ``target`` that appeared meanwhile is never
    replaced (the loser gets a StorageError). The folder follows the umask.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not replace:
        raise FileExistsError(f"{target} exists already; remove it or choose another path")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield tmp
        publish_dir(tmp, target, replace=replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_dead_partials(target: str | os.PathLike[str], *, marker: str = ".partial-") -> None:
    """Remove ``.<name><marker><pid>-*`` siblings of ``target`` whose process is gone (killed writers).

    Writers put their pid first in the temporary folder's name, so a folder of a live
    writer is never touched; links are never followed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return
    prefix = f".{target.name}{marker}"
    for path in target.parent.glob(f"{prefix}*"):
        pid = path.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    location(path).write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    # numpy scalars / arrays and paths show up in metrics and configs
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
