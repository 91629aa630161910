"""Issue 11, class 2 (files outside an entry), for the boards.

Each case replaces one file or folder of an entry by a symbolic link that leaves
the entry (to a secret file, or to a valid-looking copy outside the zoo). No
link is ever followed: the board lists the entry under problems naming the link,
the static site holds no byte of the target and no link, and the real server
never answers with the target's content.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from boards_zoo import SECRET, Client, crawl, secret_file, served, write_entry

DATASET = "figshare-brain"


def _link_to_secret(rel: str) -> Callable[[Path, Path], Path]:
    """Replace ``rel`` (relative to the revision folder) by a link to the secret file."""

    def apply(entry: Path, outside: Path) -> Path:
        target = entry / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        target.symlink_to(secret_file(outside))
        return target

    return apply


def _link_to_copy(level: str) -> Callable[[Path, Path], Path]:
    """Move the revision folder (``rev``), the entry folder (``home``) or one file outside the zoo, and
    leave a link in its place: the target is a perfectly valid copy, and still must not be read."""

    def apply(entry: Path, outside: Path) -> Path:
        here = {"rev": entry, "home": entry.parent}.get(level) or entry / level
        if level == "refs.json":
            here = entry.parent / "refs.json"
        there = outside / f"copy-{entry.parent.name}-{here.name}"
        shutil.move(str(here), there)
        here.symlink_to(there, target_is_directory=there.is_dir())
        return here

    return apply


def _readme_to_etc_passwd(entry: Path, outside: Path) -> Path:
    (entry / "README.md").unlink()
    (entry / "README.md").symlink_to("/etc/passwd")
    return entry / "README.md"


CASES: dict[str, Callable[[Path, Path], Path]] = {
    "readme-to-etc-passwd": _readme_to_etc_passwd,
    "readme-to-secret": _link_to_secret("README.md"),
    "plot-to-secret": _link_to_secret("plots/roc.png"),
    "plot-three-down": _link_to_secret("plots/a/b/deep.png"),
    "gradcam-to-secret": _link_to_secret("gradcam/class0.png"),
    "search-to-secret": _link_to_secret("search.json"),
    "metrics-to-copy": _link_to_copy("metrics.json"),
    "config-to-copy": _link_to_copy("config.json"),
    "plots-folder-to-copy": _link_to_copy("plots"),
    "revision-to-copy": _link_to_copy("rev"),
    "entry-to-copy": _link_to_copy("home"),
    "refs-to-copy": _link_to_copy("refs.json"),
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    base = tmp_path_factory.mktemp("links")
    zoo, outside = base / "zoo", base / "outside"
    outside.mkdir()
    write_entry(zoo, DATASET, "good", value=0.9)
    links = {name: make(write_entry(zoo, DATASET, name), outside) for name, make in CASES.items()}
    # a whole dataset folder that is a link: its board says so, the others are untouched
    write_entry(outside / "elsewhere", "all-leukemia", "smuggled")
    (zoo / "all-leukemia").symlink_to(outside / "elsewhere" / "all-leukemia", target_is_directory=True)
    links["dataset-folder"] = zoo / "all-leukemia"
    return zoo, links


@pytest.fixture(scope="module")
def client(zoo: tuple[Path, dict[str, Path]]) -> Iterator[Client]:
    with served(zoo[0]) as server:
        yield Client(server.server_address[1])


def test_linked_entries_are_problems_naming_the_link(zoo: tuple[Path, dict[str, Path]]) -> None:
    from medzoo.leaderboards import table

    root, links = zoo
    board = table(DATASET, zoo=root)
    assert [r.name for r in board.rows] == ["good"]
    for name in CASES:
        line = next((p for p in board.problems if p.startswith(f"{DATASET}/{name}:")), "")
        assert "symbolic link" in line and str(links[name]) in line, f"{name}: {line or 'not listed'}"
    leukemia = table("all-leukemia", zoo=root)
    assert leukemia.rows == [] and any(str(links["dataset-folder"]) in p for p in leukemia.problems)


def test_the_site_holds_no_byte_of_a_link_target(zoo: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    from medzoo.leaderboards import build_site

    site = build_site(zoo=zoo[0], out=tmp_path / "site")
    files = [p for p in site.rglob("*")]
    assert not [p for p in files if p.is_symlink()]
    assert (site / DATASET / "good" / "plots" / "a" / "b" / "deep.png").is_file()
    for path in files:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes() and b"root:x:0:0" not in path.read_bytes(), path
    for name in CASES:
        assert not (site / DATASET / name).exists(), name
    assert "symbolic link" in (site / "index.html").read_text()


def test_the_server_never_answers_with_a_link_target(
    zoo: tuple[Path, dict[str, Path]], client: Client
) -> None:
    pages = crawl(client)
    assert pages["/"][0] == 200 and f"/{DATASET}/good/plots/a/b/deep.png" in pages
    assert all(status == 200 for status, _ in pages.values())
    assert not [p for p, (_, body) in pages.items() if SECRET.encode() in body or b"root:x:0:0" in body]
    for name in CASES:
        for rel in ("", "README.md", "plots/roc.png", "plots/a/b/deep.png", "gradcam/class0.png", "try.html"):
            status, _, body = client.get(f"/{DATASET}/{name}/{rel}")
            assert status == 404 and SECRET.encode() not in body, (name, rel, status)


def test_a_link_planted_while_the_site_builds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board was read before the link appeared: copying the entry's files checks again."""
    from medzoo.leaderboards import site as site_mod

    zoo = tmp_path / "zoo"
    write_entry(zoo, DATASET, "good", value=0.9)
    victim = write_entry(zoo, DATASET, "victim", value=0.8)
    real = site_mod.all_boards

    def boards_then_plant(root: object) -> object:
        boards = real(root)
        (victim / "plots" / "a" / "b" / "deep.png").unlink()
        (victim / "plots" / "a" / "b" / "deep.png").symlink_to(secret_file(tmp_path))
        return boards

    monkeypatch.setattr(site_mod, "all_boards", boards_then_plant)
    site = site_mod.build_site(zoo=zoo, out=tmp_path / "site")
    assert not (site / DATASET / "victim").exists() and (site / DATASET / "good" / "index.html").is_file()
    assert "symbolic link" in (site / f"{DATASET}.html").read_text()
    assert not [p for p in site.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
