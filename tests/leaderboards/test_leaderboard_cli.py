"""`medzoo leaderboard show|build` through the real entry point (one-line errors, exit status 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from medzoo.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_the_ranked_board_and_keeps_hostile_names_literal(
    make_entry: Callable[..., Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    make_entry("all-leukemia", "dsp", value=0.95, ci=(0.93, 0.97), split_protocol="image")
    make_entry(
        "all-leukemia",
        "evil",
        value=0.90,
        ci=(0.88, 0.92),
        model_name="[bold red]pwn[/] <script>",
        split_protocol="image",
    )
    zoo = str(make_entry.zoo)  # type: ignore[attr-defined]
    code, out, _ = run(["leaderboard", "show", "all-leukemia", "--zoo", zoo], capsys)
    assert code == 0
    assert "1" in out and "dsp" in out and "PHANTOM" in out and "Paper-reported" in out
    assert "[bold red]pwn[/] <script>" in out
    assert "image-level split" in out  # all-leukemia has no patient ids: every row must say so
    code, out, _ = run(["leaderboard", "show", "all-leukemia", "--zoo", zoo, "--sort", "params"], capsys)
    assert code == 0 and "ranked by params (lower is better)" in out


def test_unknown_sort_metric_is_one_line_with_close_matches(
    make_entry: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    make_entry("all-leukemia", "dsp", value=0.95)
    code, out, err = run(
        [
            "leaderboard",
            "show",
            "all-leukemia",
            "--zoo",
            str(make_entry.zoo),  # type: ignore[attr-defined]
            "--sort",
            "acuracy",
        ],
        capsys,
    )
    assert code == 2 and "did you mean accuracy" in err and "Traceback" not in err


def test_build_writes_the_site(
    make_entry: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    make_entry("cbis-ddsm-mass", "xception", value=0.8)
    code, out, _ = run(
        ["leaderboard", "build", "--zoo", str(make_entry.zoo), "--out", str(tmp_path / "site")],  # type: ignore[attr-defined]
        capsys,
    )
    assert code == 0 and "site written" in out
    assert (tmp_path / "site" / "cbis-ddsm-mass" / "xception" / "index.html").is_file()
