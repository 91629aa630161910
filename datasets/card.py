"""The dataset card (README.md of a prepared folder) via huggingface_hub's DatasetCard.

The card is built from dataset.json alone, so it can never disagree with it:
source and licence note, counts per split and class, split protocol (with the
image-level warning in capitals when it applies), preprocessing parameters, the
leakage audit, and a "phantom" banner when the data are synthetic.
"""

from __future__ import annotations

import html
from typing import Any


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell that a web page may render as HTML."""
    return html.escape(str(value)).replace("|", "\\|").replace("\n", " ")


def render_card(info: dict[str, Any]) -> str:
    """The card: YAML front matter for the Hub, then one Markdown section per fact of dataset.json."""
    from huggingface_hub import DatasetCard

    lines = [
        *_banner(info),
        *_source_and_split(info),
        *_counts(info),
        *_preprocessing(info),
        *_audit(info),
        *_dedup_and_skipped(info),
    ]
    return str(DatasetCard(f"---\n{_front_matter(info).to_yaml()}\n---\n\n" + "\n".join(lines)))


def _front_matter(info: dict[str, Any]) -> Any:
    from huggingface_hub import DatasetCardData

    phantom = info.get("data_kind") == "phantom"
    task_ids = {"multilabel": "multi-label-image-classification"}.get(
        info["task"], "multi-class-image-classification"
    )
    return DatasetCardData(
        pretty_name=info["title"] + (" (phantom)" if phantom else ""),
        license="other",
        task_categories=["image-classification"],
        task_ids=[task_ids],
        size_categories=[_size_category(info["images"])],
        source_datasets=["extended"],
        tags=["medical-imaging", info["id"], "medzoo", *(["synthetic", "phantom"] if phantom else [])],
        medzoo={
            "dataset": info["id"],
            "task": info["task"],
            "classes": info["classes"],
            "split_protocol": info["split_protocol"],
            "data_kind": info.get("data_kind", "real"),
            "leakage_audit_passed": bool(info["leakage_audit"]["passed"]),
            "seed": info["seed"],
        },
    )


def _banner(info: dict[str, Any]) -> list[str]:
    lines: list[str] = [f"# {_cell(info['title'])} — prepared by medzoo", ""]
    if info.get("data_kind") == "phantom":
        lines += [
            "> **PHANTOM DATA.** These images are synthetic phantoms written by `medzoo datasets synth` "
            "in the dataset's native layout. They test the pipeline; no result on them says anything "
            "about real patients.",
            "",
        ]
    for w in info.get("warnings", []):
        lines += [f"> **{_cell(w)}**", ""]
    return lines


def _source_and_split(info: dict[str, Any]) -> list[str]:
    lines = [
        "## Source",
        f"- Dataset id: `{info['id']}`; modality: {_cell(info['modality'])}; task: {info['task']}",
        f"- Citation: {_cell(info['citation'])}",
        f"- Licence note: {_cell(info['licence'])}",
        f"- Raw layout recognised: {_cell(info['layout'])}",
        f"- Classes (label order): {', '.join(f'{i} {_cell(c)}' for i, c in enumerate(info['classes']))}",
        "",
        "## Split protocol",
        f"- **{_split_text(info)}**, seed {info['seed']}"
        + (f", {info['folds']} folds (fold 0 is the default validation split)" if info.get("folds") else ""),
    ]
    return lines + [f"- {_cell(n)}" for n in info.get("notes", [])]


def _counts(info: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Counts per split and class",
        "",
        "| split | " + " | ".join(_cell(c) for c in info["classes"]) + " | total |",
        "|---" * (len(info["classes"]) + 2) + "|",
    ]
    for split, c in info["counts"].items():
        lines.append(
            f"| {split} | " + " | ".join(str(c.get(k, 0)) for k in info["classes"]) + f" | {c['total']} |"
        )
    lines += ["", f"{info['images']} images from {info['patients']} patient ids.", ""]
    if info.get("excluded"):
        lines += [
            "Left out on purpose: " + ", ".join(f"{_cell(k)}: {v}" for k, v in info["excluded"].items()),
            "",
        ]
    return lines


def _preprocessing(info: dict[str, Any]) -> list[str]:
    steps = info["preprocessing"].get("steps") or []
    return [
        "## Preprocessing",
        "",
        *(f"{i + 1}. {_cell(s)}" for i, s in enumerate(steps)),
        "",
        "Parameters: "
        + ", ".join(f"`{_cell(k)}={_cell(v)}`" for k, v in info["preprocessing"]["params"].items()),
        "",
    ]


def _audit(info: dict[str, Any]) -> list[str]:
    a = info["leakage_audit"]
    return [
        "## Leakage audit",
        f"- Result: **{'passed' if a['passed'] else 'FAILED'}** ({a['rows']} rows, {a['patients']} patient ids)",
        f"- Patients in two splits: {a['patients_in_two_splits']}"
        + ("" if a["patient_check_enforced"] else " (not enforced: image-level split)"),
        f"- Identical images (sha256) in two splits: {a['identical_images_in_two_splits']}",
        f"- Patients / identical images in two folds: {a['patients_in_two_folds']} / {a['identical_images_in_two_folds']}",
        "",
    ]


def _dedup_and_skipped(info: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if info.get("dedup"):
        d = info["dedup"]
        lines += [
            "## Near-duplicate removal",
            f"- Against `{_cell(d['against'])}`: removed {d['removed']} "
            f"({d['exact']} exact sha256, {d['near']} perceptual-hash within {d['max_hamming']} bits); "
            f"kept {d['kept']}.",
            "",
        ]
    if info.get("skipped"):
        lines += ["## Skipped items", ""] + [
            f"- `{_cell(s['source'])}`: {_cell(s['problem'])}" for s in info["skipped"]
        ]
        lines.append("")
    return lines


def _split_text(info: dict[str, Any]) -> str:
    p = info["split_protocol"]
    if info.get("eval_only"):
        return "evaluation only (all rows test); image-level ids"
    return {
        "patient": "patient-level split (stratified by class, grouped by patient)",
        "image": "image-level split",
        "official": "official split of the dataset (patient-disjoint), validation carved by patient",
    }[p]


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "1M<n<10M"
