"""Prediction: one loaded Predictor, many images; real Grad-CAM overlays; warnings when inputs do not fit."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from medzoo.errors import InputImageError
from medzoo.zoo.entries import store
from medzoo.zoo.inference.predict import Predictor, predict

ENTRY = "figshare-brain/tiny_cnn"


@pytest.fixture(scope="module")
def predictor(tiny_zoo):
    return Predictor.from_entry(ENTRY, zoo=tiny_zoo)


def _test_image(tiny_run, k=0) -> tuple[np.ndarray, str]:
    from medzoo import datasets

    prepared = json.loads((tiny_run / "run.json").read_text())["prepared"]
    m = datasets.read_manifest(prepared)
    row = m[m["split"] == "test"].iloc[k]
    path = f"{prepared}/{row['path']}"
    return np.asarray(Image.open(path)), path


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_prediction_matches_load_and_carries_a_real_cam(predictor, tiny_zoo, tiny_run):
    pixels, path = _test_image(tiny_run)
    pred = predictor.predict(_png(pixels), filename="slice.png")
    model, preprocess, labels = store.load(ENTRY, zoo=tiny_zoo)
    with torch.no_grad():
        expected = torch.softmax(model(preprocess(pixels)[None]), dim=1)[0].numpy()
    np.testing.assert_allclose(pred.probs, expected, atol=1e-5)
    assert pred.labels == labels and pred.top_label == labels[int(np.argmax(expected))]
    assert sum(pred.probs) == pytest.approx(1.0, abs=1e-5)
    cam = np.asarray(Image.open(io.BytesIO(pred.cam_png)))
    shown = np.asarray(Image.open(io.BytesIO(pred.input_png)))
    assert cam.shape == shown.shape == (64, 64, 3)
    assert np.abs(cam.astype(int) - shown.astype(int)).mean() > 5  # a heat map was drawn over the input
    d = pred.to_dict()
    json.dumps(d)
    assert d["has_cam"] and set(d["probs"]) == set(labels) and pred.warnings == []
    # the CAM depends on the image: two different slices give two different maps
    other = predictor.predict(_test_image(tiny_run, 3)[0])
    assert other.cam_png != pred.cam_png
    assert predictor.predict(pixels, cam=False).cam_png is None


def test_warnings_for_colour_tiny_and_wrong_modality_inputs(predictor):
    rgb = np.zeros((240, 240, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = 200, 40
    assert any("colour (RGB)" in w for w in predictor.predict(rgb, cam=False).warnings)
    tiny = np.full((12, 12), 100, np.uint8)
    assert any("small image (12x12" in w for w in predictor.predict(tiny, cam=False).warnings)
    from test_predict_imageio import dicom_bytes

    mammo = dicom_bytes(np.linspace(0, 4000, 96 * 96).reshape(96, 96), modality="MG")
    pred = predictor.predict(mammo, filename="mammo.dcm", cam=False)
    assert any("DICOM modality MG" in w for w in pred.warnings)
    mr = dicom_bytes(np.linspace(0, 4000, 96 * 96).reshape(96, 96), modality="MR")
    assert predictor.predict(mr, filename="mr.dcm", cam=False).warnings == []


def test_bad_upload_is_an_input_image_error(predictor):
    with pytest.raises(InputImageError, match="evil.png"):
        predictor.predict(b"\x89PNG\r\n\x1a\nnot really", filename="evil.png")


def test_predict_function_loads_once_for_many_images(tiny_zoo, tiny_run, tmp_path):
    pixels, path = _test_image(tiny_run)
    out = predict(ENTRY, [path, _png(pixels)], zoo=tiny_zoo, cam=False)
    assert len(out) == 2 and out[0].probs == pytest.approx(out[1].probs)
