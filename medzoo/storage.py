"""The one filesystem layer: a local folder, a shared mount and an object-store URI are the same code.

Every read and write of prepared sets, runs and zoo entries goes through a
:class:`Location`. It sits on ``pyarrow.fs``, the layer Ray Tune itself uses for
``storage_path``, so a run's own files and Tune's state land in the same place
and the filesystem object can be handed to Ray unchanged
(``RunConfig(storage_filesystem=...)``).

Why one layer: cluster nodes do not share the driver's disk, so the same code
must work on ``s3://bucket/prefix`` (AWS or any S3-compatible store; endpoint and
credentials from the standard ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` variables) and ``gs://`` as on a local
path; and because folders may come from someone else, reads refuse symbolic
links (a link could point anywhere) and writes are atomic.

Guarantees:
- local writes go to a temporary sibling and are renamed into place; with
  ``replace=False`` the rename never replaces a file that appeared meanwhile
  (a hard link is created, which fails if the target exists);
- object-store writes are single PUTs (visible whole or not at all); ``replace=False``
  checks for the key first, so two writers racing on one key may both succeed there
  (callers that need exclusivity on object stores write to unique names);
- new files and folders follow the process umask, so a zoo shared by a team stays
  readable by the team.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from medzoo.errors import FormatError, StorageError

SCHEMES = ("file", "s3", "gs")
_CHUNK = 1 << 20


def location(where: str | os.PathLike[str] | Location) -> Location:
    """Parse a local path, ``file://``, ``s3://bucket/prefix`` or ``gs://bucket/prefix``."""
    if isinstance(where, Location):
        return where
    text = os.fspath(where)
    if not isinstance(text, str) or not text:
        raise StorageError(f"a storage location must be a non-empty path or URI, got {where!r}")
    if "\x00" in text:
        raise StorageError(f"storage location {text!r} contains a NUL byte")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Location(uri=os.path.abspath(os.path.expanduser(text)))
    scheme = scheme.lower()
    if scheme == "file":
        return Location(uri=os.path.abspath(os.path.expanduser(rest)))
    if scheme not in SCHEMES:
        raise StorageError(
            f"storage URI {text!r}: the scheme {scheme!r} is not supported; use a local path, "
            "s3://bucket/prefix or gs://bucket/prefix",
            fix="pass --storage s3://bucket/prefix, gs://bucket/prefix or a folder every node mounts",
        )
    key = "/".join(p for p in rest.split("/") if p)
    if not key or any(p in (".", "..") for p in key.split("/")):
        raise StorageError(f"storage URI {text!r}: expected {scheme}://bucket[/prefix] without '.' or '..'")
    return Location(uri=f"{scheme}://{key}")


@dataclass(frozen=True)
class Location:
    """A file or folder on some filesystem, named by ``uri`` (an absolute local path or a URI)."""

    uri: str
    _fs: list[Any] = field(default_factory=list, compare=False, repr=False)

    # -- naming -----------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        head, sep, _ = self.uri.partition("://")
        return head if sep else "file"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def path(self) -> str:
        """The path inside the filesystem (``bucket/key`` for object stores)."""
        return self.uri.partition("://")[2] if not self.is_local else self.uri

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def parent(self) -> Location:
        return self._with_path(str(PurePosixPath(self.path).parent))

    def local_path(self) -> Path:
        if not self.is_local:
            raise StorageError(f"{self.uri} is not a local path; this step needs a local folder")
        return Path(self.uri)

    def __truediv__(self, part: str) -> Location:
        parts = [p for p in str(part).split("/") if p]
        if not parts or str(part).startswith("/") or any(p in (".", "..") or "\\" in p for p in parts):
            raise StorageError(f"{self.uri}: {part!r} is not a relative name inside it")
        return self._with_path(str(PurePosixPath(self.path).joinpath(*parts)))

    def _with_path(self, path: str) -> Location:
        loc = Location(uri=path if self.is_local else f"{self.scheme}://{path}")
        loc._fs.extend(self._fs)  # share the filesystem object (credentials, endpoint)
        return loc

    def __str__(self) -> str:
        return self.uri

    def __fspath__(self) -> str:
        return str(self.local_path())

    # -- the filesystem ---------------------------------------------------------------------------

    def filesystem(self) -> tuple[Any, str]:
        """``(pyarrow filesystem, path)``, e.g. for ``RunConfig(storage_filesystem=...)``."""
        if not self._fs:
            self._fs.append(_make_filesystem(self.scheme))
        return self._fs[0], self.path

    def _info(self) -> Any:
        fs, path = self.filesystem()
        try:
            return fs.get_file_info(path)
        except OSError as exc:
            raise _storage_error(self, exc) from exc

    def exists(self) -> bool:
        if self.is_local:
            return os.path.lexists(self.uri)
        import pyarrow.fs as pafs

        return self._info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        if self.is_local:
            return os.path.isdir(self.uri) and not os.path.islink(self.uri)
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.Directory

    def is_file(self) -> bool:
        if self.is_local:
            return os.path.isfile(self.uri) and not os.path.islink(self.uri)
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.File

    # -- reading ----------------------------------------------------------------------------------

    def check_inside(self, root: Location) -> None:
        """Refuse a location that is not below ``root`` or reaches it through a link (local)."""
        rel = PurePosixPath(self.path).relative_to(root.path) if self._below(root) else None
        if rel is None:
            raise StorageError(f"{self.uri} is not inside {root.uri}; nothing outside it is read")
        if self.is_local:
            current = Path(root.uri)
            for part in rel.parts:
                current = current / part
                if current.is_symlink():
                    raise StorageError(
                        f"{current} is a symbolic link inside {root.uri}; links are refused because they "
                        "can point outside it",
                        fix="replace the link by the file itself",
                    )

    def _below(self, root: Location) -> bool:
        if self.scheme != root.scheme:
            return False
        return self.path == root.path or self.path.startswith(root.path.rstrip("/") + "/")

    def read_bytes(self, *, max_bytes: int | None = None, root: Location | None = None) -> bytes:
        """The file's bytes; links are refused, and so are files larger than ``max_bytes``."""
        if root is not None:
            self.check_inside(root)
        if self.is_local:
            return _read_local(Path(self.uri), max_bytes)
        fs, path = self.filesystem()
        try:
            info = fs.get_file_info(path)
            if info.type.name != "File":
                raise StorageError(f"{self.uri} is not a file (found: {info.type.name.lower()})")
            _check_size(self, info.size, max_bytes)
            with fs.open_input_stream(path) as fh:
                return fh.read()
        except OSError as exc:
            raise _storage_error(self, exc) from exc

    def read_text(self, *, max_bytes: int | None = None, root: Location | None = None) -> str:
        data = self.read_bytes(max_bytes=max_bytes, root=root)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"{self.uri} must be UTF-8 text; byte {data[exc.start]:#04x} at offset {exc.start} is not",
                fix="re-save the file as UTF-8",
            ) from None

    def iterdir(self) -> list[Location]:
        if self.is_local:
            try:
                names = sorted(os.listdir(self.uri))
            except OSError as exc:
                raise _storage_error(self, exc) from exc
            return [self / n for n in names]
        import pyarrow.fs as pafs

        fs, path = self.filesystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=False, allow_not_found=True))
        except OSError as exc:
            raise _storage_error(self, exc) from exc
        return sorted((self._with_path(i.path) for i in infos), key=lambda loc: loc.uri)

    def walk(self) -> Iterator[tuple[str, Location]]:
        """Every file below this folder as ``(relative path, Location)``; a link anywhere raises."""
        if self.is_local:
            yield from _walk_local(self)
            return
        import pyarrow.fs as pafs

        fs, path = self.filesystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise _storage_error(self, exc) from exc
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == pafs.FileType.File:
                yield str(PurePosixPath(info.path).relative_to(path)), self._with_path(info.path)

    # -- writing ----------------------------------------------------------------------------------

    def write_bytes(self, data: bytes, *, replace: bool = True) -> Location:
        """Write atomically; ``replace=False`` refuses a target that exists (or appears meanwhile)."""
        if self.is_local:
            _write_local(Path(self.uri), data, replace=replace)
            return self
        if not replace and self.exists():
            raise StorageError(f"{self.uri} exists already; it is not replaced")
        fs, path = self.filesystem()
        try:
            with fs.open_output_stream(path) as fh:
                fh.write(data)
        except OSError as exc:
            raise _storage_error(self, exc) from exc
        return self

    def write_text(self, text: str, *, replace: bool = True) -> Location:
        return self.write_bytes(text.encode("utf-8"), replace=replace)

    def mkdir(self) -> Location:
        if self.is_local:
            try:
                os.makedirs(self.uri, exist_ok=True)
            except OSError as exc:
                raise _storage_error(self, exc) from exc
        return self  # object stores have no folders: a prefix exists once a key below it does

    def upload_from(self, local_dir: str | os.PathLike[str], *, replace: bool = False) -> Location:
        """Copy a local tree here (links refused); locally the tree appears at once, by a rename."""
        source = location(local_dir)
        if self.exists() and not replace:
            raise StorageError(f"{self.uri} exists already; it is not replaced")
        if self.is_local:
            target = Path(self.uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
            try:
                for rel, src in source.walk():
                    _write_local(tmp / rel, src.read_bytes(), replace=True)
                publish_dir(tmp, target, replace=replace)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return self
        for rel, src in source.walk():
            (self / rel).write_bytes(src.read_bytes())
        return self

    def download_to(self, local_dir: str | os.PathLike[str], *, replace: bool = False) -> Path:
        """Copy this folder's tree into ``local_dir`` (created whole by a rename, links refused)."""
        return Path(location(local_dir).upload_from(self, replace=replace).uri)

    def delete(self) -> None:
        if self.is_local:
            path = Path(self.uri)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)  # rmtree removes links, never follows them
            elif os.path.lexists(path):
                path.unlink()
            return
        import pyarrow.fs as pafs

        fs, path = self.filesystem()
        try:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                fs.delete_dir(path)
            elif info.type == pafs.FileType.File:
                fs.delete_file(path)
        except OSError as exc:
            raise _storage_error(self, exc) from exc


# -- helpers ---------------------------------------------------------------------------------------


def check_reachable(where: Location | str) -> None:
    """Fail early, before any trial starts: the endpoint answers, credentials work, the bucket exists."""
    loc = location(where)
    if loc.is_local:
        probe = Path(loc.uri)
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK) or not probe.is_dir():
            raise StorageError(
                f"storage {loc.uri}: {probe} is not a writable folder", fix="choose another path"
            )
        return
    bucket = loc.path.split("/", 1)[0]
    import pyarrow.fs as pafs

    fs, _ = loc.filesystem()
    try:
        info = fs.get_file_info(bucket)
    except OSError as exc:
        raise _storage_error(loc, exc) from exc
    if info.type == pafs.FileType.NotFound:
        raise StorageError(
            f"storage {loc.uri}: the bucket {bucket!r} does not exist at {_endpoint(loc.scheme)}",
            fix=f"create it first (e.g. `aws s3 mb {loc.scheme}://{bucket}`) or fix the bucket name",
        )


def _endpoint(scheme: str) -> str:
    if scheme == "s3":
        return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or "AWS S3"
    return "Google Cloud Storage"


def _make_filesystem(scheme: str) -> Any:
    import pyarrow.fs as pafs

    if scheme == "file":
        return pafs.LocalFileSystem()
    if scheme == "gs":
        return pafs.GcsFileSystem(retry_time_limit=_seconds(20))
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    kwargs: dict[str, Any] = {
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "connect_timeout": 5,
        "request_timeout": 60,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    }
    if endpoint:
        scheme_part, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host or endpoint, scheme=scheme_part if host else "https")
    # Credentials are never passed explicitly: the filesystem object is pickled into Ray Tune's state and
    # sent to the nodes, and each node resolves its own (AWS_* variables, ~/.aws, instance role).
    return pafs.S3FileSystem(**kwargs)


def _seconds(n: float) -> Any:
    import datetime as dt

    return dt.timedelta(seconds=n)


def _storage_error(loc: Location, exc: OSError) -> StorageError:
    """Turn pyarrow's and the OS's errors into one line naming the location and the fix."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, StorageError):
        return exc
    if any(
        s in low for s in ("access_denied", "accessdenied", "invalidaccesskeyid", "signaturedoesnotmatch")
    ):
        fix = "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the node's role) for this bucket"
        return StorageError(f"storage {loc.uri}: the credentials were refused ({_first_line(text)})", fix=fix)
    if any(s in low for s in ("curl", "connection refused", "could not resolve", "timeout", "timed out")):
        fix = "check AWS_ENDPOINT_URL and that the object store is reachable from this machine"
        return StorageError(
            f"storage {loc.uri}: the endpoint {_endpoint(loc.scheme)} is unreachable", fix=fix
        )
    if "nosuchbucket" in low or "bucket does not exist" in low:
        return StorageError(f"storage {loc.uri}: the bucket does not exist", fix="create the bucket first")
    return StorageError(f"storage {loc.uri}: {_first_line(text)}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "unknown error"


def _check_size(loc: Location, size: int | None, max_bytes: int | None) -> None:
    if max_bytes is not None and size is not None and size > max_bytes:
        raise StorageError(f"{loc.uri} is {size} bytes; at most {max_bytes} are read from such a file")


def _read_local(path: Path, max_bytes: int | None) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise StorageError(
                f"{path} is a symbolic link; links are refused because they can point anywhere",
                fix="replace the link by the file itself",
            ) from None
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise StorageError(f"{path} is {kind}; a file was expected there")
    with os.fdopen(fd, "rb") as fh:
        _check_size(location(path), st.st_size, max_bytes)
        return fh.read()


def _walk_local(root: Location) -> Iterator[tuple[str, Location]]:
    base = Path(root.uri)
    if base.is_symlink():
        raise StorageError(
            f"{base} is a symbolic link; links are refused", fix="replace the link by the folder"
        )
    stack = [base]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                raise StorageError(
                    f"{path} is a symbolic link inside {base}; links are refused because they can point "
                    "outside it",
                    fix="replace the link by the file itself",
                )
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                yield path.relative_to(base).as_posix(), location(path)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _write_local(path: Path, data: bytes, *, replace: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise StorageError(
            f"cannot write {path}: {exc.strerror or exc}", fix="choose a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a shared zoo needs the umask
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path exists: never replaces what appeared meanwhile
            except FileExistsError:
                raise StorageError(f"{path} exists already; it is not replaced") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def publish_dir(tmp: Path, target: Path, *, replace: bool) -> None:
    """Rename a finished temporary folder into place (mode from the umask, not mkdtemp's 0700)."""
    os.chmod(tmp, 0o777 & ~current_umask())
    for folder, dirs, _files in os.walk(tmp):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o777 & ~current_umask())
    if os.path.lexists(target):
        if not replace:
            raise StorageError(f"{target} exists already; it is not replaced")
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, target)  # onto a non-empty folder that appeared meanwhile this fails
    except OSError as exc:
        raise StorageError(f"{target} appeared meanwhile; it is not replaced ({exc.strerror})") from None
