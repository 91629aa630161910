"""Issue 11, class 7 (tracebacks instead of one line), for ``medzoo leaderboard``.

Every error reachable from the command line prints one ``error:`` line naming
the path or value (and a ``fix:`` line), exits with status 2, shows no
traceback, and touches nothing outside its target. Names with console markup
(``[/x]``) are printed literally.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from boards_zoo import write_entry

from medzoo.cli import main

DATASET = "figshare-brain"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _parent_is_a_file(tmp: Path) -> tuple[list[str], str]:
    (tmp / "a-file").write_text("x")
    return ["build", "--out", str(tmp / "a-file" / "site")], str(tmp / "a-file")


def _unrelated_folder(tmp: Path) -> tuple[list[str], str]:
    (tmp / "precious").mkdir()
    (tmp / "precious" / "thesis.tex").write_text("years of work")
    return ["build", "--out", str(tmp / "precious")], str(tmp / "precious")


def _out_is_a_file(tmp: Path) -> tuple[list[str], str]:
    (tmp / "site.html").write_text("x")
    return ["build", "--out", str(tmp / "site.html")], str(tmp / "site.html")


def _out_is_a_link(tmp: Path) -> tuple[list[str], str]:
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real", target_is_directory=True)
    return ["build", "--out", str(tmp / "link")], str(tmp / "link")


def _unknown_scheme(tmp: Path) -> tuple[list[str], str]:
    return ["show", DATASET, "--zoo", "ftp://host/zoo"], "ftp://host/zoo"


def _unknown_storage_scheme(tmp: Path) -> tuple[list[str], str]:
    return ["show", DATASET, "--storage", "webdav://host/x"], "webdav://host/x"


def _unknown_dataset(tmp: Path) -> tuple[list[str], str]:
    return ["show", "figshare-brian", "--zoo", str(tmp / "zoo")], "figshare-brain"


def _unknown_sort(tmp: Path) -> tuple[list[str], str]:
    return ["show", DATASET, "--zoo", str(tmp / "zoo"), "--sort", "acc[/x]"], "acc[/x]"


CASES: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "parent-is-a-file": _parent_is_a_file,
    "unrelated-folder": _unrelated_folder,
    "out-is-a-file": _out_is_a_file,
    "out-is-a-link": _out_is_a_link,
    "unknown-scheme": _unknown_scheme,
    "unknown-storage-scheme": _unknown_storage_scheme,
    "unknown-dataset": _unknown_dataset,
    "unknown-sort": _unknown_sort,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_error_line_naming_the_value(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_entry(tmp_path / "zoo", DATASET, "fine")
    argv, named = CASES[case](tmp_path)
    if argv[0] == "build":
        argv += ["--zoo", str(tmp_path / "zoo")]
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    code, _, err = run(["leaderboard", *argv], capsys)
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert lines[0].startswith("error: ") and named in lines[0], (case, err)
    assert all(line.startswith(("error: ", "fix: ")) for line in lines) and "Traceback" not in err, err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before, case


def test_names_with_markup_are_printed_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zoo = tmp_path / "zoo[" / "x]"
    write_entry(zoo, DATASET, "fine")
    out_dir = tmp_path / "site[" / "b]"
    code, out, err = run(["leaderboard", "build", "--zoo", str(zoo), "--out", str(out_dir)], capsys)
    assert code == 0 and f"site written to {out_dir}" in out, err
    assert (out_dir / DATASET / "fine" / "index.html").is_file()
