"""The base of every on-disk contract: a frozen dataclass that validates itself when read.

A file one part writes and another reads (``run.json``, ``metrics.json``,
``dataset.json``, ...) is a subclass of :class:`Record`. ``read`` checks every
field against its annotation and raises one :class:`~medzoo.errors.FormatError`
naming the file and the field, so a corrupt or hostile file is one clear line,
never a traceback deep inside a consumer. ``write`` is atomic and stamps the
``format_version``; a file from a newer medzoo is refused with the fix, an older
one goes through :meth:`Record.migrate`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar, Union

from medzoo.errors import FormatError, StorageError
from medzoo.storage import Location, location

R = TypeVar("R", bound="Record")

#: JSON files larger than this are refused before parsing (a hostile file could be huge)
MAX_JSON_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base class of the typed, versioned file formats (see the module docstring)."""

    FILENAME: ClassVar[str] = ""
    FORMAT_VERSION: ClassVar[int] = 1

    # -- dict <-> record -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls: type[R], data: Any, *, where: str = "") -> R:
        """Validate ``data`` against the fields' annotations; unknown and missing keys are errors."""
        return _convert(cls, data, where or cls.FILENAME or cls.__name__, "")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring ``data`` written as ``version`` up to ``FORMAT_VERSION``; by default older is refused."""
        raise FormatError(
            f"{cls.FILENAME or cls.__name__}: format_version {version} is older than the supported "
            f"{cls.FORMAT_VERSION} and cannot be migrated",
            fix="re-create the file with this version of medzoo",
        )

    # -- files -----------------------------------------------------------------------------------

    @classmethod
    def location_of(cls, where: Location | str | os.PathLike[str]) -> Location:
        loc = location(where)
        if cls.FILENAME and loc.name != cls.FILENAME and (not loc.exists() or loc.is_dir()):
            return loc / cls.FILENAME
        return loc

    @classmethod
    def read(cls: type[R], where: Location | str | os.PathLike[str], *, root: Location | None = None) -> R:
        """Read and validate the file (``where`` is the file or the folder holding ``FILENAME``)."""
        loc = cls.location_of(where)
        if not loc.exists():
            raise FormatError(f"{loc.uri} is missing", fix=f"check that {loc.parent.uri} is complete")
        try:
            text = loc.read_text(max_bytes=MAX_JSON_BYTES, root=root)
        except StorageError as exc:
            raise FormatError(exc.message, fix=exc.fix) from None
        return cls.from_json(text, where=loc.uri)

    @classmethod
    def from_json(cls: type[R], text: str, *, where: str) -> R:
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise FormatError(
                f"{where} is not valid JSON ({exc}); it may be truncated or corrupt",
                fix="re-create it (re-run the step that wrote it) or restore it from a copy",
            ) from None
        if not isinstance(data, dict):
            raise FormatError(f"{where}: expected a JSON object at the top, found {type(data).__name__}")
        return cls.from_dict(cls._upgrade(data, where), where=where)

    @classmethod
    def _upgrade(cls, data: dict[str, Any], where: str) -> dict[str, Any]:
        data = dict(data)
        version = data.pop("format_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise FormatError(f"{where}: format_version must be a positive integer, found {version!r}")
        if version > cls.FORMAT_VERSION:
            raise FormatError(
                f"{where} has format_version {version}; this medzoo reads up to {cls.FORMAT_VERSION}",
                fix="upgrade medzoo (pip install -U medzoo)",
            )
        return cls.migrate(data, version) if version < cls.FORMAT_VERSION else data

    def to_json(self) -> str:
        body = {"format_version": self.FORMAT_VERSION, **self.to_dict()}
        return json.dumps(body, indent=2, allow_nan=False) + "\n"

    def write(self, where: Location | str | os.PathLike[str], *, replace: bool = True) -> Location:
        """Write atomically (``where`` is the file or its folder); ``replace=False`` never overwrites."""
        loc = type(self).location_of(where)
        loc.write_text(self.to_json(), replace=replace)
        return loc


# -- validation ------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(where: str, path: str, expected: str, value: Any) -> FormatError:
    field_part = f" field {path!r}" if path else ""
    return FormatError(
        f"{where}:{field_part} must be {expected}, found {_describe(value)}",
        fix=f"fix or re-create {where}",
    )


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any, where: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return _check_json(value, where, path)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(tp, value, where, path)
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            raise _fail(where, path, f"one of {list(typing.get_args(tp))}", value)
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(tp, value, where, path)
    if tp is type(None):
        if value is not None:
            raise _fail(where, path, "null", value)
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, path, "true or false", value)
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, path, "an integer", value)
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise _fail(where, path, "a finite number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, path, "a string", value)
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        return _convert_sequence(tp, value, where, path)
    if origin in (dict, Mapping) or tp is dict:
        return _convert_mapping(tp, value, where, path)
    raise TypeError(f"{where}: unsupported annotation {tp!r} for field {path!r}")


def _convert_union(tp: Any, value: Any, where: str, path: str) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _convert(arg, value, where, path)
        except FormatError as exc:
            errors.append(exc)
    names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
    if len(errors) == 1:
        raise errors[0]
    raise _fail(where, path, names, value)


def _convert_sequence(tp: Any, value: Any, where: str, path: str) -> Any:
    if not isinstance(value, list):
        raise _fail(where, path, "a list", value)
    args = typing.get_args(tp)
    origin = typing.get_origin(tp) or tp
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise _fail(where, path, f"a list of {len(args)} items", value)
        return tuple(
            _convert(a, v, where, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    item = args[0] if args else Any
    items = [_convert(item, v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _convert_mapping(tp: Any, value: Any, where: str, path: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, path, "an object", value)
    args = typing.get_args(tp) or (str, Any)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise _fail(where, path, "an object with string keys", k)
        out[k] = _convert(args[1], v, where, f"{path}.{k}" if path else k)
    return out


def _convert_dataclass(cls: type, value: Any, where: str, path: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, path, f"an object ({cls.__name__})", value)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        prefix = f"{path}." if path else ""
        raise FormatError(
            f"{where}: unknown field(s) {[prefix + k for k in unknown]}; allowed: {sorted(fields)}",
            fix=f"remove them, or use the medzoo version that wrote {where}",
        )
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FormatError(f"{where}: the required field {sub!r} is missing", fix=f"re-create {where}")
            continue
        kwargs[name] = _convert(hints[name], value[name], where, sub)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{where}: {exc}", fix=f"fix or re-create {where}") from None


def _check_json(value: Any, where: str, path: str) -> Any:
    """``Any`` fields still hold plain JSON: finite numbers, strings, lists, objects."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, path, "a finite number", value)
    if isinstance(value, list):
        return [_check_json(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _check_json(v, where, f"{path}.{k}") for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A JSON-ready copy: records and dataclasses as objects, tuples as lists, numpy scalars as numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
