"""`medzoo datasets list|synth|check|prepare`: a few lines each over medzoo.datasets."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Dataset specs, phantoms, raw-download checks and preparation.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List the dataset ids with task, classes, split protocols and primary metric."""
    from rich.table import Table

    from medzoo import datasets
    from medzoo.cli.common import console

    table = Table("id", "task", "classes", "splits (default first)", "metric", "modality")
    for dataset_id in datasets.ids():
        spec = datasets.get(dataset_id)
        splits = [spec.default_split] + [s for s in spec.split_protocols if s != spec.default_split]
        classes = ", ".join(spec.classes) if spec.num_classes <= 4 else f"{spec.num_classes} labels"
        table.add_row(
            spec.id,
            spec.task + (" (eval only)" if spec.eval_only else ""),
            classes,
            ", ".join(splits),
            spec.primary_metric,
            spec.modality,
        )
    console().print(table)


@app.command()
def synth(
    dataset_id: str = typer.Argument(..., metavar="ID", help="Dataset id (medzoo datasets list)."),
    out: Path = typer.Argument(..., help="New folder for the phantom (must not exist or be empty)."),
    patients: int = typer.Option(24, "--patients", help="Number of phantom patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same files."),
) -> None:
    """Write a phantom in the dataset's native on-disk layout."""
    from medzoo import datasets
    from medzoo.cli.common import console

    path = datasets.synthesize(dataset_id, out, patients=patients, seed=seed)
    console().print(
        f"wrote a {dataset_id} phantom ({patients} patients, seed {seed}) to {path}", markup=False
    )


@app.command()
def check(
    dataset_id: str = typer.Argument(..., metavar="ID", help="Dataset id (medzoo datasets list)."),
    raw: Path = typer.Argument(..., help="The raw download (or phantom) folder."),
) -> None:
    """Validate a raw download: every problem with its path, counts per class; exit 1 when unusable."""
    from medzoo import datasets
    from medzoo.cli.common import console

    report = datasets.check(dataset_id, raw)
    c = console()
    for problem in report.problems:  # one line each, never wrapped: tools grep them by path
        c.print(f"{'FATAL' if problem.fatal else 'problem'}: {problem}", markup=False, soft_wrap=True)
    for name, n in report.counts.items():
        c.print(f"  {name}: {n}", markup=False, soft_wrap=True)
    for reason, n in report.excluded.items():
        c.print(f"  left out ({reason}): {n}", markup=False, soft_wrap=True)
    c.print(report.summary(), markup=False, soft_wrap=True)
    if not report.usable:
        raise typer.Exit(1)


@app.command()
def prepare(
    dataset_id: str = typer.Argument(..., metavar="ID", help="Dataset id (medzoo datasets list)."),
    raw: Path = typer.Argument(..., help="The raw download (or phantom) folder."),
    out: Path = typer.Argument(..., help="New folder for the prepared dataset."),
    split: str = typer.Option(
        None, "--split", help="patient | image | official (default: the dataset's own)."
    ),
    folds: int = typer.Option(None, "--folds", help="K cross-validation folds over the non-test patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    image_size: int = typer.Option(
        None, "--image-size", help="Side of the prepared images (default per dataset)."
    ),
) -> None:
    """Preprocess, split and audit a raw download into the prepared layout (written atomically)."""
    from medzoo import datasets
    from medzoo.cli.common import console
    from medzoo.formats.prepared import read_info

    path = datasets.prepare(dataset_id, raw, out, split=split, folds=folds, seed=seed, image_size=image_size)
    info = read_info(path)
    c = console()
    for warning in info.warnings:
        c.print(warning, style="bold red", markup=False, soft_wrap=True)
    counts = ", ".join(f"{s} {v['total']}" for s, v in info.counts.items())
    c.print(
        f"prepared {info.images} images ({counts}); {info.split_protocol} split; leakage audit "
        f"{'passed' if info.leakage_audit.passed else 'FAILED'}; skipped {len(info.skipped)} -> {path}",
        markup=False,
        soft_wrap=True,
    )
