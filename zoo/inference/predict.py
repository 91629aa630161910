"""Prediction with a zoo entry: load once, predict many, with a Grad-CAM overlay and honest warnings.

``Predictor.from_entry(entry, zoo=...)`` verifies and loads the entry once (the
web app keeps one per entry); ``Predictor.predict(data)`` reads PNG/JPEG/DICOM/
NIfTI bytes, a path or an array, applies the entry's own preprocessing, and
returns a :class:`Prediction`: per-class probabilities (multi-label: per label
with its threshold), the input as the model saw it and a Grad-CAM overlay
computed from the model at the family's CAM layer. It warns when the image
does not fit the entry's card (colour vs grey, a different DICOM modality, an
image much smaller than the model's input).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.formats.entry import EntryConfig
from medzoo.zoo.entries import store
from medzoo.zoo.inference.imageio import ImageData, Preprocess, encode_png, read_image

#: DICOM Modality codes that fit a dataset's modality text
_DICOM_MODALITIES = {
    "mri": {"MR"},
    "mammo": {"MG", "CR", "DX"},
    "x-ray": {"CR", "DX"},
    "xray": {"CR", "DX"},
    "smear": {"SM", "XC", "OT", "GM"},
    "microscop": {"SM", "XC", "OT", "GM"},
}


@dataclass
class Prediction:
    """The result for one image. ``cam_png`` / ``input_png`` are PNG bytes; ``to_dict()`` is JSON-safe."""

    entry: str
    source: str
    task: str
    labels: list[str]
    probs: list[float]
    top_label: str
    top_prob: float
    thresholds: dict[str, float] | None = None  # multi-label: per label; binary single-logit: {positive: t}
    positives: list[str] = field(default_factory=list)  # multi-label: labels at or above their threshold
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the file was read (DICOM window, NIfTI slice, ...)
    cam_label: str | None = None
    cam_png: bytes | None = None
    input_png: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "source": self.source,
            "task": self.task,
            "probs": {lab: round(float(p), 6) for lab, p in zip(self.labels, self.probs, strict=True)},
            "labels": list(self.labels),
            "top_label": self.top_label,
            "top_prob": round(float(self.top_prob), 6),
            "thresholds": self.thresholds,
            "positives": list(self.positives),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "cam_label": self.cam_label,
            "has_cam": self.cam_png is not None,
        }


class Predictor:
    """One loaded, verified entry; ``predict`` is thread-safe (one request at a time per model)."""

    def __init__(
        self, model, preprocess: Preprocess, config: EntryConfig, *, entry: str, device: str = "cpu"
    ) -> None:
        self.model = model
        self.preprocess = preprocess
        self.config = config
        self.entry = entry
        self.device = device
        self.labels: list[str] = list(config.label_names)
        self.task: str = config.medzoo.task
        self._lock = threading.Lock()

    @classmethod
    def from_entry(cls, entry: str, *, zoo: store.ZooLike, device: str | None = None) -> Predictor:
        """Resolve, validate (config.json field by field, weights by sha256) and load ``entry`` once."""
        from medzoo.device import detect

        resolved, cfg, model = store.open_entry(entry, zoo=zoo)
        runtime = detect(device)
        model.to(runtime.torch_device())
        return cls(
            model, Preprocess.from_config(cfg.pretrained_cfg), cfg, entry=resolved.id, device=runtime.device
        )

    def warnings_for(self, image: ImageData) -> list[str]:
        """Why this image may not fit the entry (empty when it fits)."""
        med = self.config.medzoo
        out: list[str] = []
        modality = str(med.modality or "")
        channels = med.channels
        _, h, w = self.preprocess.input_size
        if channels == 1 and not image.is_grey:
            out.append(
                f"colour (RGB) image given to a model trained on grey-scale {modality or 'images'}; "
                "the prediction is unlikely to mean anything"
            )
        if channels == 3 and image.is_grey:
            out.append(f"grey-scale image given to a model trained on colour {modality or 'images'}")
        ih, iw = image.pixels.shape[:2]
        if min(ih, iw) < max(32, min(h, w) // 2):
            out.append(
                f"small image ({ih}x{iw} px) upsampled to the model's {h}x{w}: detail is invented, not seen"
            )
        if max(ih, iw) > 3 * min(ih, iw):
            out.append(f"image aspect ratio {iw}:{ih} is far from square; it is stretched to {w}x{h}")
        if image.modality:
            low = modality.lower()
            expected = set().union(*(v for k, v in _DICOM_MODALITIES.items() if k in low)) if low else set()
            if expected and image.modality.upper() not in expected:
                out.append(
                    f"DICOM modality {image.modality} does not match the model's modality ({modality})"
                )
        return out

    def _probs(self, logits) -> np.ndarray:
        """The shared rule (``medzoo.scoring``), so predictions match the probabilities metrics were measured on."""
        from medzoo.scoring import probabilities

        return probabilities(logits, task=self.task).numpy()

    def _cam_png(self, x, shown: np.ndarray, top: int) -> bytes | None:
        """The Grad-CAM overlay of the top class at the family's CAM layer (None when the entry has none)."""
        import torch

        from medzoo.zoo.inference import gradcam

        med = self.config.medzoo
        if med.cam_layer is None:
            return None
        with torch.enable_grad():
            cams = gradcam.compute_cams(
                self.model, x, [top], layer=med.cam_layer, task=self.task, reshape=med.cam_reshape
            )
        return encode_png(gradcam.overlay(shown, cams[0]))

    def _thresholds(self) -> dict[str, float] | None:
        """Multi-label: each label's decision threshold (the search's, else 0.5); None otherwise."""
        if self.task != "multilabel":
            return None
        thr = self.config.medzoo.threshold
        if isinstance(thr, dict):
            return {lab: float(thr.get(lab, 0.5)) for lab in self.labels}
        return {lab: float(thr if thr is not None else 0.5) for lab in self.labels}

    def predict(
        self,
        data: bytes | str | Path | np.ndarray,
        *,
        filename: str | None = None,
        cam: bool = True,
        slice_index: int | None = None,
    ) -> Prediction:
        """Classify one image (bytes, path or array); ``cam=False`` skips the Grad-CAM overlay.

        ``slice_index`` picks the axial slice of a NIfTI volume (default: the slice with the most signal).
        """
        import torch

        image = read_image(data, filename=filename, slice_index=slice_index)
        shown = self.preprocess.display(image.pixels)
        x = self.preprocess(image.pixels)[None].to(self.device)
        with self._lock:
            with torch.no_grad():
                probs = self._probs(self.model(x).cpu())[0]
            if not np.all(np.isfinite(probs)):
                from medzoo.errors import ModelError

                raise ModelError(
                    f"{self.entry}: the model gave non-finite probabilities for {image.source}; its weights or "
                    "config.json are broken, so no result is shown",
                    fix="pull or re-publish the entry",
                )
            top = int(np.argmax(probs))
            cam_png = self._cam_png(x, shown, top) if cam else None
        thresholds = self._thresholds()
        positives = (
            [lab for lab, p in zip(self.labels, probs, strict=True) if p >= thresholds[lab]]
            if thresholds
            else []
        )
        return Prediction(
            entry=self.entry,
            source=image.source,
            task=self.task,
            labels=self.labels,
            probs=[float(p) for p in probs],
            top_label=self.labels[top],
            top_prob=float(probs[top]),
            thresholds=thresholds,
            positives=positives,
            warnings=self.warnings_for(image),
            notes=list(image.notes),
            cam_label=self.labels[top] if cam else None,
            cam_png=cam_png,
            input_png=encode_png(shown),
        )


def predict(
    entry: str, images: list[str | Path | bytes], *, zoo: store.ZooLike, cam: bool = True
) -> list[Prediction]:
    """Load ``entry`` once and classify each image."""
    predictor = Predictor.from_entry(entry, zoo=zoo)
    return [predictor.predict(img, cam=cam) for img in images]
