"""Issue 11, class 7 (one clear line instead of a traceback) for raw downloads and prepare's OUT.

Non-UTF-8 CSVs, NaN/inf bounding boxes, a CSV with every field quoted and an OUT
whose parent is a file: each is one line naming the file and row (a problem for
``check``, an ``error:`` line for ``prepare``), ``check`` and ``prepare`` agree,
and nothing partial is left behind.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from medzoo import datasets
from medzoo.cli import main


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


@pytest.fixture
def cxr(tmp_path: Path) -> Path:
    return datasets.synthesize("chestxray14", tmp_path / "raw", patients=4, seed=0)


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_non_utf8_data_entry_is_one_fatal_line_and_prepare_refuses(
    cxr: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = cxr / "Data_Entry_2017_v2020.csv"
    lines = entry.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b",AP,", b",AP\xe9,").replace(b",PA,", b",PA\xe9,")  # latin-1 in row 2
    entry.write_bytes(b"".join(lines))
    assert run(["datasets", "check", "chestxray14", str(cxr)]) == 1
    out = capsys.readouterr().out
    fatal = [line for line in out.splitlines() if line.startswith("FATAL")]
    assert len(fatal) == 1 and "Data_Entry_2017_v2020.csv: row 2" in fatal[0] and "UTF-8" in fatal[0]
    out_dir = tmp_path / "prepared"
    assert run(["datasets", "prepare", "chestxray14", str(cxr), str(out_dir)]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "Data_Entry_2017_v2020.csv: row 2" in errors[0]
    assert not out_dir.exists() and not list(tmp_path.glob(".prepared.partial-*"))


def test_non_utf8_brats_name_mapping_is_one_problem_in_check_and_prepare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = datasets.synthesize("brats19-grade", tmp_path / "raw", patients=4, seed=0)
    mapping = next(raw.rglob("name_mapping.csv"))
    mapping.write_bytes(mapping.read_bytes().replace(b"\n", b"\nGr\xe9de,,,,\n", 1))
    report = datasets.check("brats19-grade", raw)
    rel = mapping.relative_to(raw).as_posix()
    hits = [str(p) for p in report.problems if p.path == rel]
    assert report.usable and len(hits) == 1 and "row 1" in hits[0] and "UTF-8" in hits[0]
    out = datasets.prepare("brats19-grade", raw, tmp_path / "prepared", progress=False)
    assert hits[0] in datasets.read_info(out)["raw_problems"]  # prepare agrees with check


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_or_inf_bounding_box_is_a_row_problem_for_check_and_prepare(
    cxr: Path, tmp_path: Path, bad: str
) -> None:
    bbox = cxr / "BBox_List_2017.csv"
    first = bbox.read_text().splitlines()[1].split(",")[0]
    with bbox.open("a") as fh:
        fh.write(f"{first},Mass,{bad},10,40,{bad}\n")
    n = len(bbox.read_text().splitlines()) - 1
    report = datasets.check("chestxray14", cxr)
    hits = [str(p) for p in report.problems if "must be finite" in p.message]
    assert report.usable and len(hits) == 1 and f"BBox_List_2017.csv: row {n} ({first})" in hits[0]
    out = datasets.prepare("chestxray14", cxr, tmp_path / "prepared", progress=False, image_size=32)
    assert hits[0] in datasets.read_info(out)["raw_problems"]


def test_a_csv_with_every_field_quoted_reads_like_the_plain_one(cxr: Path) -> None:
    plain = datasets.check("chestxray14", cxr)
    for name in ("Data_Entry_2017_v2020.csv", "BBox_List_2017.csv"):
        path = cxr / name
        rows = list(csv.reader(io.StringIO(path.read_text())))
        buf = io.StringIO()
        csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
        path.write_text(buf.getvalue())
    quoted = datasets.check("chestxray14", cxr)
    assert quoted.usable and len(quoted.records) == len(plain.records) > 0
    assert [r.labels for r in quoted.records] == [r.labels for r in plain.records]
    assert [str(p) for p in quoted.problems] == [str(p) for p in plain.problems]


def test_cbis_case_csv_with_every_field_quoted_is_read(tmp_path: Path) -> None:
    raw = datasets.synthesize("cbis-ddsm-mass", tmp_path / "raw", patients=4, seed=0)
    plain = datasets.check("cbis-ddsm-mass", raw)
    for path in raw.rglob("mass_case_description_*.csv"):
        rows = list(csv.reader(io.StringIO(path.read_text(), newline="")))
        buf = io.StringIO()
        csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(rows)
        path.write_text(buf.getvalue())
    quoted = datasets.check("cbis-ddsm-mass", raw)
    assert quoted.usable and len(quoted.records) == len(plain.records) > 0


def test_out_whose_parent_is_a_file_is_one_error_line(
    cxr: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    assert run(["datasets", "prepare", "chestxray14", str(cxr), str(tmp_path / "afile" / "out")]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "afile" in errors[0] and "parent must be a folder" in errors[0]
