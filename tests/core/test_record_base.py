"""The Record base every on-disk contract uses: round trip, and one clear error per kind of damage."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from medzoo.errors import FormatError
from medzoo.formats import Record


@dataclass(frozen=True, kw_only=True)
class Interval:
    value: float
    ci_low: float | None = None


@dataclass(frozen=True, kw_only=True)
class Example(Record):
    FILENAME: ClassVar[str] = "example.json"
    FORMAT_VERSION: ClassVar[int] = 2
    name: str
    mode: Literal["max", "min"] = "max"
    metrics: dict[str, Interval] = field(default_factory=dict)
    sizes: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1 and "title" in data:  # version 1 called the field "title"
            data = dict(data)
            data["name"] = data.pop("title")
            return data
        return data if version == 1 else super().migrate(data, version)


GOOD = Example(name="a", metrics={"auc": Interval(value=0.9, ci_low=0.8)}, sizes=(1, 2), extra={"k": [1]})


def test_round_trip_through_a_folder(tmp_path: Path) -> None:
    GOOD.write(tmp_path)
    data = json.loads((tmp_path / "example.json").read_text())
    assert data["format_version"] == 2
    assert Example.read(tmp_path) == GOOD
    assert Example.read(tmp_path / "example.json") == GOOD


def test_an_older_version_is_migrated(tmp_path: Path) -> None:
    (tmp_path / "example.json").write_text(json.dumps({"format_version": 1, "title": "old"}))
    assert Example.read(tmp_path).name == "old"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"name": 3}', "field 'name' must be a string, found 3"),
        (
            b'{"name": "a", "metrics": {"auc": {"value": "high"}}}',
            "field 'metrics.auc.value' must be a finite",
        ),
        (b'{"mode": "max"}', "required field 'name' is missing"),
        (b'{"name": "a", "surprise": 1}', r"unknown field\(s\) \['surprise'\]"),
        (b'{"name": "a", "mode": "best"}', r"'mode' must be one of \['max', 'min'\]"),
        (b'{"format_version": 3, "name": "a"}', "format_version 3; this medzoo reads up to 2"),
        (b'{"name": "a", "sizes": [1, NaN]}', "not valid JSON"),
        (b'{"name": "a", "met', "not valid JSON"),
        (b'{"name": "\xff\xfe"}', "must be UTF-8 text"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"format_version": 0, "name": "a"}', "format_version must be a positive integer"),
    ],
)
def test_every_kind_of_damage_is_one_error_naming_file_and_field(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "example.json").write_bytes(content)
    with pytest.raises(FormatError, match=message) as info:
        Example.read(tmp_path)
    assert str(tmp_path / "example.json") in info.value.message
    assert "\n" not in info.value.message


def test_a_missing_file_and_a_refused_write(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="is missing"):
        Example.read(tmp_path)
    GOOD.write(tmp_path)
    with pytest.raises(Exception, match="exists already"):
        GOOD.write(tmp_path, replace=False)
