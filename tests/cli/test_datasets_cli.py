"""`medzoo datasets ...`: output and exit codes (0 ok, 1 unusable raw set, 2 user error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medzoo.cli import main


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def test_list_shows_all_six_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for dataset_id in (
        "figshare-brain",
        "all-leukemia",
        "kaggle-brain-mri",
        "cbis-ddsm-mass",
        "brats19-grade",
        "chestxray14",
    ):
        assert dataset_id[:9] in out


def test_synth_check_prepare_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    assert run(["datasets", "synth", "kaggle-brain-mri", str(raw), "--patients", "4", "--seed", "2"]) == 0
    assert run(["datasets", "check", "kaggle-brain-mri", str(raw)]) == 0
    text = capsys.readouterr().out
    assert "no-tumour image(s) left out" in text and "meningioma:" in text and "usable" in text
    assert run(["datasets", "prepare", "kaggle-brain-mri", str(raw), str(out), "--image-size", "32"]) == 0
    assert "leakage audit passed" in capsys.readouterr().out.replace("\n", " ")
    assert (out / "manifest.parquet").is_file() and (out / "README.md").is_file()


def test_check_lists_problems_and_exits_1_when_unusable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "raw"
    (raw / "Original" / "Monocyte").mkdir(parents=True)
    (raw / "Original" / "Monocyte" / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (raw / ".DS_Store").write_bytes(b"x")
    assert run(["datasets", "check", "all-leukemia", str(raw)]) == 1
    out = capsys.readouterr().out
    assert ".DS_Store: stray OS file" in out and "Original/Monocyte: unknown class folder" in out
    assert "FATAL" in out and "UNUSABLE" in out


def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["datasets", "check", "figshare-brian", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'figshare-brian'; did you mean figshare-brain" in err and "Traceback" not in err
    assert run(["datasets", "check", "figshare-brain", str(tmp_path / "missing")]) == 2
    assert "the raw folder must exist" in capsys.readouterr().err
    assert (
        run(["datasets", "prepare", "all-leukemia", str(tmp_path), str(tmp_path / "o"), "--split", "patient"])
        == 2
    )
    assert "no patient ids" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
