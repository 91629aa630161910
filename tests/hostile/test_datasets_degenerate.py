"""Issue 11, class 8 (silent acceptance of degenerate data) in the dataset readers.

A 1x1 image, an all-NaN slice and a binary set left with one class are problems
that ``check`` reports by path, and ``prepare`` does not train on them: the
degenerate item is left out, the one-class set is refused. Both agree.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from medzoo import datasets
from medzoo.cli import main
from medzoo.datasets import matlab


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def test_a_one_pixel_image_is_a_problem_and_left_out(tmp_path: Path) -> None:
    raw = datasets.synthesize("all-leukemia", tmp_path / "raw", patients=4, seed=0)
    tiny = raw / "Original" / "Pro" / "WBC-Malignant-Pro-999.png"
    ok, buf = cv2.imencode(".png", np.full((1, 1, 3), 200, np.uint8))
    tiny.write_bytes(buf.tobytes())
    report = datasets.check("all-leukemia", raw)
    hits = [p for p in report.problems if p.path == "Original/Pro/WBC-Malignant-Pro-999.png"]
    assert report.usable and len(hits) == 1 and "1x1 pixels" in hits[0].message
    out = datasets.prepare("all-leukemia", raw, tmp_path / "prepared", progress=False, image_size=32)
    assert "Original/Pro/WBC-Malignant-Pro-999.png" not in set(datasets.read_manifest(out)["source"])


def test_an_all_nan_slice_is_a_problem_and_left_out(tmp_path: Path) -> None:
    raw = datasets.synthesize("figshare-brain", tmp_path / "raw", patients=3, seed=0)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 20:30] = 1
    matlab.write_mat73(
        raw / "999.mat",
        "cjdata",
        {
            "label": (np.array([[1.0]]), "double"),
            "PID": (np.array([[ord(c) for c in "424242"]], dtype=np.uint16), "char"),
            "image": (np.full((64, 64), np.nan), "double"),
            "tumorMask": (mask, "logical"),
        },
    )
    report = datasets.check("figshare-brain", raw)
    hits = [p for p in report.problems if p.path == "999.mat"]
    assert report.usable and len(hits) == 1 and "NaN" in hits[0].message
    assert "999.mat" not in {r.source for r in report.records}
    out = datasets.prepare("figshare-brain", raw, tmp_path / "prepared", progress=False, split="patient")
    assert "999.mat" not in set(datasets.read_manifest(out)["source"])


def test_a_binary_set_left_with_one_class_is_refused_by_check_and_prepare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = datasets.synthesize("brats19-grade", tmp_path / "raw", patients=4, seed=0)
    lgg = next(p for p in raw.rglob("LGG") if p.is_dir())
    shutil.rmtree(lgg)
    lgg.write_text("the extraction failed here\n")  # the class folder turned out to be a file
    assert run(["datasets", "check", "brats19-grade", str(raw)]) == 1
    out = capsys.readouterr().out
    rel = lgg.relative_to(raw).as_posix()
    assert f"problem: {rel}: 'LGG' names a class folder but is a file" in out
    assert "FATAL: .: a binary set needs items of at least 2 classes" in out
    assert run(["datasets", "prepare", "brats19-grade", str(raw), str(tmp_path / "prepared")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "at least 2 classes" in errors[0]
    assert not (tmp_path / "prepared").exists()


def test_a_class_folder_that_is_a_file_is_named(tmp_path: Path) -> None:
    raw = datasets.synthesize("all-leukemia", tmp_path / "raw", patients=4, seed=0)
    shutil.rmtree(raw / "Original" / "Pre")
    (raw / "Original" / "Pre").write_bytes(b"not a folder")
    report = datasets.check("all-leukemia", raw)
    hits = [p for p in report.problems if p.path == "Original/Pre"]
    assert len(hits) == 1 and "names a class folder but is a file" in hits[0].message


def test_a_repeated_csv_row_is_reported_by_check_and_prepare_agrees(tmp_path: Path) -> None:
    raw = datasets.synthesize("cbis-ddsm-mass", tmp_path / "raw", patients=4, seed=0)
    path = next(raw.rglob("mass_case_description_train_set.csv"))
    rows = list(csv.reader(io.StringIO(path.read_text(), newline="")))
    buf = io.StringIO()
    csv.writer(buf).writerows([*rows, rows[1]])  # the first case described again at the end
    path.write_text(buf.getvalue())
    report = datasets.check("cbis-ddsm-mass", raw)
    hits = [str(p) for p in report.problems if "is described again" in p.message]
    assert report.usable and len(hits) == 1 and f"row {len(rows)}" in hits[0]
    out = datasets.prepare("cbis-ddsm-mass", raw, tmp_path / "prepared", progress=False, image_size=32)
    assert hits[0] in datasets.read_info(out)["raw_problems"]
