"""Issue 11, class 6 (concurrent writers), for ``leaderboard build``.

A site build writes into a temporary sibling and renames it into place. It must
never replace a site that appeared (or was replaced) while it ran: the later
build fails with one clear error and the other build's site stays whole.
Leftovers of killed builds are cleaned up by the next build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from boards_zoo import write_entry

from medzoo.errors import StorageError
from medzoo.leaderboards import site as site_mod

DATASET = "figshare-brain"


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    zoo = tmp_path / "zoo"
    write_entry(zoo, DATASET, "first", value=0.9)
    return zoo


def _racing(monkeypatch: pytest.MonkeyPatch, before_publish: object) -> None:
    """Run ``before_publish()`` once, after the build has read the zoo and before it publishes."""
    real = site_mod.all_boards
    done = []

    def boards_then_rival(zoo: object) -> object:
        result = real(zoo)
        if not done:
            done.append(True)
            before_publish()  # type: ignore[operator]
        return result

    monkeypatch.setattr(site_mod, "all_boards", boards_then_rival)


@pytest.mark.parametrize("rival", ["new-site", "replaced-site", "unrelated-folder", "file"])
def test_a_site_that_appears_meanwhile_is_never_replaced(
    rival: str, zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "site"
    if rival == "replaced-site":
        site_mod.build_site(zoo=zoo, out=out)
    rival_zoo = tmp_path / "rival-zoo"
    write_entry(rival_zoo, DATASET, "rival", value=0.5)

    def rival_build() -> None:
        if rival in ("new-site", "replaced-site"):
            monkeypatch.undo()
            site_mod.build_site(zoo=rival_zoo, out=out)  # another build finishes first
        elif rival == "unrelated-folder":
            out.mkdir()
            (out / "thesis.tex").write_text("years of work")
        else:
            out.write_text("a file")

    _racing(monkeypatch, rival_build)
    with pytest.raises(StorageError, match="it is not replaced") as exc:
        site_mod.build_site(zoo=zoo, out=out)
    assert str(out) in exc.value.message and exc.value.fix
    if rival in ("new-site", "replaced-site"):
        assert (out / DATASET / "rival" / "index.html").is_file() and not (out / DATASET / "first").exists()
    elif rival == "unrelated-folder":
        assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    else:
        assert out.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_builds_in_parallel_leave_one_whole_site(zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            site_mod.build_site(zoo=zoo, out=out)
        except StorageError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all("it is not replaced" in e.message for e in errors)  # type: ignore[attr-defined]
    assert (out / site_mod.MARKER).is_file() and (out / DATASET / "first" / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_leftovers_of_a_killed_build_are_cleaned_by_the_next(zoo: Path, tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    leftover = tmp_path / f".site.partial-{dead_pid}-abc123"
    (leftover / "static").mkdir(parents=True)
    alive = tmp_path / f".site.partial-{os.getpid()}-inuse"  # a build of a live process: kept
    alive.mkdir()
    site_mod.build_site(zoo=zoo, out=tmp_path / "site")
    assert not leftover.exists() and alive.exists()
