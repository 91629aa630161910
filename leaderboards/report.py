"""Downloadable reports of one try-a-model prediction: self-contained HTML, and a one-page PDF.

The PDF is drawn with matplotlib (already a dependency) on a standalone Figure,
so no pyplot state is touched; text is drawn with ``parse_math=False`` so a
``$`` in a model name or file name stays a character.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import Row


def data_uri(png: bytes | None) -> str | None:
    return None if not png else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def prediction_result(prediction: Any, *, filename: str, token: str) -> dict[str, Any]:
    """The view of a ``medzoo.zoo.inference.predict.Prediction`` that the page and the reports show."""
    probabilities = sorted(zip(prediction.labels, prediction.probs, strict=True), key=lambda lp: -lp[1])
    warnings = list(prediction.warnings)
    if prediction.task == "multilabel" and prediction.thresholds:
        found = ", ".join(prediction.positives) or "none"
        warnings.append(f"multi-label model: labels at or above their threshold: {found}")
    return {
        "filename": filename,
        "label": prediction.top_label,
        "probabilities": [(str(lab), float(p)) for lab, p in probabilities],
        "warnings": warnings + list(prediction.notes),
        "input_png": prediction.input_png,
        "cam_png": prediction.cam_png,
        "input_uri": data_uri(prediction.input_png),
        "cam_uri": data_uri(prediction.cam_png),
        "token": token,
    }


def pdf_report(row: Row, result: dict[str, Any], *, created: str) -> bytes:
    """A one-page A4 PDF: model, data kind, probabilities, the input and the Grad-CAM overlay."""
    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    lines = [
        ("medzoo prediction report", 16, "bold"),
        (f"Model: {row.model}  ({row.entry_id}@{row.revision}, {row.architecture})", 10, "normal"),
        (
            f"Trained on {row.data_kind} data; split {fmt.split(row.split_protocol)}; test {row.primary_metric} "
            f"{fmt.interval(row.primary)}",
            10,
            "normal",
        ),
        (f"Image: {result['filename']}    created {created}", 10, "normal"),
        (f"Predicted: {result['label']}", 13, "bold"),
    ]
    if "decision" in result:
        lines.append((f"Decision at threshold {result['threshold']:.2f}: {result['decision']}", 11, "bold"))
    if row.data_kind == "phantom":
        lines.append((fmt.PHANTOM_NOTE, 8, "bold"))
    lines += [(w, 9, "normal") for w in result["warnings"]]
    y = 0.96
    for text, size, weight in lines:
        fig.text(0.06, y, text, fontsize=size, fontweight=weight, parse_math=False, wrap=True)
        y -= 0.028 if size < 12 else 0.035
    images = [
        (result["input_png"], "input (as the model saw it)"),
        (result["cam_png"], f"Grad-CAM overlay ({result['label']})"),
    ]
    images = [(png, title) for png, title in images if png]
    for i, (png, title) in enumerate(images):
        ax = fig.add_axes((0.06 + i * 0.46, 0.40, 0.42, 0.30))
        ax.imshow(mpimg.imread(io.BytesIO(png), format="png"), cmap="gray")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ax = fig.add_axes((0.06, 0.06, 0.88, 0.30))
    ax.axis("off")
    shown = result["probabilities"][:20]
    table = ax.table(
        cellText=[[name, f"{p:.4f}"] for name, p in shown],
        colLabels=["class", "probability"],
        loc="upper center",
        cellLoc="left",
    )
    for cell in table.get_celld().values():
        cell.get_text().set_parse_math(False)
    fig.text(
        0.06,
        0.03,
        "Research use only; not a medical device. Grad-CAM from the model's own gradients.",
        fontsize=8,
        parse_math=False,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    return buf.getvalue()
