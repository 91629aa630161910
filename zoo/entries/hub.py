"""Remote zoos on the Hugging Face Hub: one model repo per entry, zoo revisions as Hub tags.

``push`` uploads one local revision folder with ``upload_folder`` (a commit on
``main``) and tags that commit ``rN``; ``pull`` fetches a repo at a tag, branch
or commit with ``snapshot_download`` into a temporary folder, verifies it like a
local entry (config.json, sha256 of the safetensors weights) and adds it to the
local zoo as a new revision. The token comes from the usual place
(``HF_TOKEN`` or ``huggingface-cli login``) unless given. The requests are built
as a plain plan first, so they are tested without network; offline, every call
fails with a HubError that says so.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medzoo.errors import HubError, UnsafeNameError
from medzoo.zoo.entries import store

_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
ENTRY_FILES = [
    "config.json",
    "model.safetensors",
    "README.md",
    "LICENSE.md",
    "metrics.json",
    "search.json",
    "plots/*.png",
    "gradcam/*.png",
    "gradcam/inputs/*.png",
    "gradcam/index.json",
]


def default_repo_id(namespace: str, dataset: str, name: str) -> str:
    """``<namespace>/medzoo-<dataset>-<name>``: one Hub repo per zoo entry."""
    repo = f"{namespace}/medzoo-{dataset}-{name}"
    check_repo_id(repo)
    return repo


def check_repo_id(repo_id: str) -> str:
    if not _REPO_RE.fullmatch(repo_id) or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise UnsafeNameError(
            f"a Hub repo id must look like 'owner/name' (letters, digits, '_', '.', '-'), got {repo_id!r}"
        )
    return repo_id


@dataclass(frozen=True)
class HubCall:
    """One HfApi method call: ``method`` and its keyword arguments (the token is never stored here)."""

    method: str
    kwargs: dict[str, Any]


def plan_push(
    entry: str,
    *,
    zoo: str | Path,
    repo_id: str | None = None,
    namespace: str | None = None,
    private: bool = True,
) -> list[HubCall]:
    """The Hub calls that publish ``entry`` (one revision): create the repo, upload the folder, tag ``rN``."""
    resolved = store.resolve_entry(entry, zoo=zoo)
    store.verify_folder(resolved.path)  # never push a tampered entry, nor a link out of it
    if repo_id is None:
        if not namespace:
            raise HubError(
                "pushing needs a Hub repo id or a namespace (user or organisation), got neither",
                fix="pass repo_id='owner/name' or namespace='owner' (CLI: --repo or --namespace)",
            )
        repo_id = default_repo_id(namespace, resolved.dataset, resolved.name)
    check_repo_id(repo_id)
    return [
        HubCall(
            "create_repo", {"repo_id": repo_id, "repo_type": "model", "private": private, "exist_ok": True}
        ),
        HubCall(
            "upload_folder",
            {
                "repo_id": repo_id,
                "repo_type": "model",
                "folder_path": str(resolved.path),
                "revision": "main",
                "allow_patterns": list(ENTRY_FILES),
                "delete_patterns": list(ENTRY_FILES),
                "commit_message": f"medzoo: {resolved.id}",
            },
        ),
        HubCall(
            "create_tag",
            {
                "repo_id": repo_id,
                "repo_type": "model",
                "tag": resolved.revision,
                "tag_message": f"medzoo {resolved.id}",
                "revision": "{commit}",
                "exist_ok": False,
            },
        ),
    ]


def _api(api: Any | None, token: str | None) -> Any:
    if api is not None:
        return api
    from huggingface_hub import HfApi

    return HfApi(token=token)  # None: HF_TOKEN or the token saved by `hf auth login`


def _hub_error(exc: Exception, what: str) -> HubError:
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, OfflineModeIsEnabled | LocalEntryNotFoundError):
        return HubError(
            f"{what}: the Hugging Face Hub is unreachable or offline mode is on (HF_HUB_OFFLINE=1); "
            f"{type(exc).__name__}: {exc}",
            fix="connect to the network and unset HF_HUB_OFFLINE, or use a local zoo (--zoo)",
        )
    if isinstance(exc, LocalTokenNotFoundError):
        return HubError(
            f"{what}: a Hugging Face token is needed and none was found ({exc})",
            fix="run `hf auth login` or set HF_TOKEN",
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubError(
            f"{what}: that revision does not exist on the Hub ({exc})",
            fix="list the repo's tags on the Hub; zoo revisions are tags r1, r2, ...",
        )
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(
            f"{what}: the repo does not exist or the token cannot see it ({exc})",
            fix="check the repo id and log in with `hf auth login`",
        )
    return HubError(f"{what}: the Hub refused or failed the request ({type(exc).__name__}: {exc})")


def push(
    entry: str,
    *,
    zoo: str | Path,
    repo_id: str | None = None,
    namespace: str | None = None,
    private: bool = True,
    token: str | None = None,
    api: Any | None = None,
) -> str:
    """Push ``entry`` to the Hub; returns ``<repo_id>@<rN>``."""
    calls = plan_push(entry, zoo=zoo, repo_id=repo_id, namespace=namespace, private=private)
    hf = _api(api, token)
    commit: str | None = None
    try:
        for call in calls:
            kwargs = dict(call.kwargs)
            if kwargs.get("revision") == "{commit}":
                kwargs["revision"] = commit
            result = getattr(hf, call.method)(**kwargs)
            if call.method == "upload_folder":
                commit = getattr(result, "oid", None)
    except (OSError, ConnectionError, ValueError) as exc:
        raise _hub_error(exc, f"pushing {entry} to {calls[0].kwargs['repo_id']}") from None
    return f"{calls[0].kwargs['repo_id']}@{calls[2].kwargs['tag']}"


def parse_hub_ref(ref: str) -> tuple[str, str | None]:
    """``hf://owner/name[@rev]`` (or ``hf:owner/name``) -> (repo_id, revision or None)."""
    body = re.sub(r"^hf:(//)?", "", ref)
    repo, _, rev = body.partition("@")
    check_repo_id(repo)
    if rev and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", rev):
        raise UnsafeNameError(f"a Hub revision must be a tag, branch or commit id, got {rev!r}")
    return repo, rev or None


def plan_pull(ref: str) -> HubCall:
    repo_id, revision = parse_hub_ref(ref)
    return HubCall(
        "snapshot_download",
        {"repo_id": repo_id, "repo_type": "model", "revision": revision, "allow_patterns": list(ENTRY_FILES)},
    )


def pull(
    ref: str, *, zoo: store.ZooLike, name: str | None = None, token: str | None = None, api: Any | None = None
) -> str:
    """Fetch ``hf://owner/repo[@rev]`` into ``zoo`` as a new local revision; returns the local entry id."""
    call = plan_pull(ref)
    hf = _api(api, token)
    with tempfile.TemporaryDirectory(prefix="medzoo-hub-pull-") as tmp:
        try:
            hf.snapshot_download(**call.kwargs, local_dir=tmp)
        except (OSError, ConnectionError, ValueError) as exc:
            raise _hub_error(exc, f"pulling {ref}") from None
        src = Path(tmp)
        shutil.rmtree(src / ".cache", ignore_errors=True)  # huggingface_hub's local_dir metadata
        cfg = store.verify_folder(src)  # no links, config.json valid, weights match their sha256
        dataset = cfg.medzoo.dataset
        entry_name = store.sanitize_name(
            name or call.kwargs["repo_id"].split("/", 1)[1].removeprefix(f"medzoo-{dataset}-")
        )
        home = store.entry_home(zoo, store.parse_entry(f"{dataset}/{entry_name}"))
        reservation = store.reserve_revision(home)
        try:
            revision = store.commit_revision(reservation, src)
        finally:
            reservation.release()
    return f"{dataset}/{entry_name}@{revision}"
