"""Zoo commands: ``medzoo publish|pull|predict|evaluate`` and the ``medzoo zoo`` group (list, families).

Each command is a plain function over one library call (registered in ``register``);
the families command and the zoo commands are maintained separately.
"""

from __future__ import annotations

from pathlib import Path  # typer resolves the string annotations in this module's globals

import typer

from medzoo.cli.common import StorageOption, ZooOption, console, resolve_zoo

zoo_app = typer.Typer(help="Browse the model zoo and the architecture families.", no_args_is_help=True)


# --- families (architectures) -------------------------------------------------


@zoo_app.command("families")
def families(
    names: list[str] | None = typer.Argument(None, help="Only these families (default: all)."),
    gmacs: bool = typer.Option(
        False, "--gmacs", help="Measure GMACs that are not cached yet (seconds per family)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the architecture families: params and GMACs with the study's head, input size, CAM layer, heads.

    Params and GMACs are cached under $MEDZOO_HOME/cache; without --gmacs only cached GMACs are shown.
    """
    import json

    from rich.table import Table
    from rich.text import Text

    from medzoo.cli.common import console
    from medzoo.paths import resolve_home
    from medzoo.zoo.architectures.family_table import family_rows

    rows = family_rows(
        cache=resolve_home() / "cache" / "family_complexity.json", gmacs=gmacs, names=names or None
    )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="architecture families (params/GMACs with the study's head and classes, else 1000)")
    for col in ("family", "source", "params", "GMACs", "input", "classes, head", "CAM layer", "study"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = (
            r["name"],
            r["source"],
            f"{r['params_m']:.2f}M",
            "-" if r["gmacs"] is None else f"{r['gmacs']:.3f}",
            "x".join(str(s) for s in r["input_size"][1:]),
            f"{r['num_classes']} {r['head']}",
            r["cam_layer"].removeprefix("backbone."),
            r["paper"],
        )
        table.add_row(*(Text(c) for c in cells))
    out = console()
    out.print(table, markup=False)
    heads = sorted({h for r in rows for h in r["heads"]})
    out.print(f"heads (every family): {', '.join(heads)}; CAM layers are inside .backbone", markup=False)
    if not gmacs and any(r["gmacs"] is None for r in rows):
        out.print(
            "GMACs: 1e9 multiply-accumulates per image (fvcore); run with --gmacs to measure the missing ones",
            markup=False,
        )


# --- zoo entries: publish, list, pull, push, predict --------------------------------
# Plain module-level functions, registered in ``register``; locations are strings (URIs allowed).


def publish_command(
    run: str = typer.Argument(..., help="A run folder (or URI) written by `medzoo sweep`."),
    top: int = typer.Option(1, "--top", help="Publish the K best trials (by validation)."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    name: str | None = typer.Option(None, "--name", help="Entry name (default: the family)."),
    data_kind: str | None = typer.Option(
        None, "--data-kind", help="phantom | real (default: from dataset.json)."
    ),
) -> None:
    """Publish a run's best trials as zoo entries (card, metrics, Grad-CAM, plots)."""
    from medzoo.zoo.entries.publishing import publish

    for entry in publish(run, top=top, zoo=resolve_zoo(zoo, storage), name=name, data_kind=data_kind):
        console().print(f"published {entry}", markup=False)


def evaluate_command(
    entry: str = typer.Argument(
        ..., help="The published entry: <dataset>/<name>, or <dataset>/<name>@rN for one revision."
    ),
    prepared: str = typer.Argument(..., help="A prepared folder of another dataset with the same classes."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    train_prepared: str | None = typer.Option(
        None,
        "--train-prepared",
        help="The entry's training set (prepared folder); default: the one its run recorded.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals."),
) -> None:
    """Evaluate an entry on another dataset (duplicates of its training images removed); writes a new revision."""
    from medzoo.zoo.entries.evaluate import describe, evaluate_entry

    where = resolve_zoo(zoo, storage)
    new = evaluate_entry(entry=entry, prepared=prepared, zoo=where, train_prepared=train_prepared, seed=seed)
    console().print(f"published {new}", markup=False)
    console().print(describe(new, zoo=where), markup=False)


def _metric_cell(r) -> str:
    if r.value is None:
        return "n/a"
    if r.ci_low is not None and r.ci_high is not None:
        return f"{r.primary_metric} {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    return f"{r.primary_metric} {r.value:.3f}"


def _print_listing(listing, where: str) -> None:
    """The entries as a table, then one line per entry that could not be read (literal text, no markup)."""
    from rich.table import Table
    from rich.text import Text

    out = console()
    if not listing.entries:
        out.print(f"no entries in {where}", markup=False)
    else:
        table = Table(title=f"zoo {where}")
        for col in (
            "entry",
            "architecture",
            "primary metric [95% CI]",
            "params",
            "GMACs",
            "data",
            "published",
        ):
            table.add_column(col, overflow="fold")
        for r in listing.entries:
            cells = (
                r.id,
                r.architecture,
                _metric_cell(r),
                "n/a" if r.params is None else f"{r.params / 1e6:.2f}M",
                "n/a" if r.gmacs is None else f"{r.gmacs:.3f}",
                r.data_kind or "",
                r.published_at or "",
            )
            table.add_row(*(Text(str(c)) for c in cells))  # literal text: names never become markup
        out.print(table, markup=False)
    _print_problems(listing.problems, err=False)


def _print_problems(problems, *, err: bool) -> None:
    """One line per entry that could not be read; with --json they go to stderr, keeping stdout JSON."""
    for p in problems:
        typer.echo(f"problem: {p.id}: {p.reason}", err=err)


def list_command(
    dataset: str | None = typer.Option(None, "--dataset", help="Only this dataset id."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    all_revisions: bool = typer.Option(False, "--all-revisions", help="Every revision, not only the newest."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON ({entries, problems}) instead of a table."
    ),
) -> None:
    """List zoo entries: name, architecture, primary metric with CI, params, GMACs, date; and unreadable ones."""
    import json

    from medzoo.zoo.entries.store import list as list_zoo

    where = resolve_zoo(zoo, storage)
    listing = list_zoo(zoo=where, dataset=dataset, all_revisions=all_revisions)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in listing.entries], indent=2))
        _print_problems(listing.problems, err=True)
    else:
        _print_listing(listing, where.uri)


def pull_command(
    entry: str = typer.Argument(..., help="<dataset>/<name>[@rN], or hf://owner/repo[@rev] from the Hub."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    to: Path | None = typer.Option(None, "--to", help="Copy the verified entry to this new folder."),
) -> None:
    """Verify an entry and copy it out (or fetch it from the Hub into the zoo)."""
    from medzoo.zoo.entries import store

    where = resolve_zoo(zoo, storage)
    if entry.startswith("hf:"):
        from medzoo.zoo.entries import hub

        entry = hub.pull(entry, zoo=where)
        console().print(f"pulled into the zoo as {entry}", markup=False)
    path = store.pull(entry, zoo=where, to=to)
    console().print(f"{entry}: verified, {path}", markup=False)


def push_command(
    entry: str = typer.Argument(..., help="<dataset>/<name>[@rN]"),
    repo: str | None = typer.Option(None, "--repo", help="Hub repo id owner/name."),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Hub user/org; repo medzoo-<dataset>-<name>."
    ),
    public: bool = typer.Option(False, "--public", help="Create the repo public (default private)."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
) -> None:
    """Push an entry revision to the Hugging Face Hub (tagged rN)."""
    from medzoo.zoo.entries import hub

    ref = hub.push(
        entry, zoo=resolve_zoo(zoo, storage), repo_id=repo, namespace=namespace, private=not public
    )
    console().print(f"pushed {entry} to hf://{ref}", markup=False)


def _print_prediction(out, pred, entry: str) -> None:
    out.print(f"{pred.source}  ({entry})", markup=False)
    for note in pred.notes:
        out.print(f"  ({note})", markup=False)
    for label, p in zip(pred.labels, pred.probs, strict=True):
        if pred.thresholds is not None:
            flag = "positive" if label in pred.positives else "negative"
            out.print(f"  {label:<24} {p:.4f}  threshold {pred.thresholds[label]:.2f}  {flag}", markup=False)
        else:
            mark = "  <- top" if label == pred.top_label else ""
            out.print(f"  {label:<24} {p:.4f}{mark}", markup=False)
    for w in pred.warnings:
        out.print(f"  warning: {w}", markup=False)


def _cam_target(cam: Path, k: int, count: int) -> Path:
    return cam if count == 1 else cam.with_name(f"{cam.stem}_{k}{cam.suffix or '.png'}")


def predict_command(
    entry: str = typer.Argument(..., help="<dataset>/<name>[@rN]"),
    images: list[Path] = typer.Argument(..., help="PNG, JPEG, DICOM or NIfTI (.nii/.nii.gz) files."),
    cam: Path | None = typer.Option(
        None, "--cam", help="Write the Grad-CAM overlay PNG here (several images: OUT_<k>.png)."
    ),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    slice_index: int | None = typer.Option(
        None, "--slice", help="Axial slice of a NIfTI volume (default: the slice with the most signal)."
    ),
) -> None:
    """Classify images with a zoo entry: per-class probabilities and a Grad-CAM overlay."""
    import json

    from medzoo.paths import atomic_write_bytes
    from medzoo.zoo.inference.predict import Predictor

    predictor = Predictor.from_entry(entry, zoo=resolve_zoo(zoo, storage))
    out = console()
    results = []
    for k, image in enumerate(images):
        pred = predictor.predict(image, cam=cam is not None, slice_index=slice_index)
        results.append(pred.to_dict())
        if not as_json:
            _print_prediction(out, pred, predictor.entry)
        if cam is not None and pred.cam_png is not None:
            target = _cam_target(cam, k, len(images))
            atomic_write_bytes(target, pred.cam_png)
            if not as_json:
                out.print(f"  Grad-CAM ({pred.cam_label}) -> {target}", markup=False)
    if as_json:
        typer.echo(json.dumps(results, indent=2))


def register(app: typer.Typer) -> None:
    """``medzoo publish|pull|predict|evaluate`` at the top level; ``medzoo zoo list|push|families`` in the group."""
    app.command("publish")(publish_command)
    app.command("pull")(pull_command)
    app.command("predict")(predict_command)
    app.command("evaluate")(evaluate_command)
    zoo_app.command("list")(list_command)
    zoo_app.command("push")(push_command)
    app.add_typer(zoo_app, name="zoo")
