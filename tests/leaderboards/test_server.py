"""The web app against a real server on 127.0.0.1 (ephemeral port): pages, uploads good and bad, XSS."""

from __future__ import annotations

import http.client
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medzoo.leaderboards import make_server

HOSTILE = '<script>alert("x")</script>'


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def upload(
        self, path: str, filename: str, data: bytes, field: str = "image"
    ) -> tuple[int, dict[str, str], bytes]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.fixture(scope="module")
def served_zoo(
    tmp_path_factory: pytest.TempPathFactory, tiny_zoo: Path, entry_writer: Callable[..., Path]
) -> Path:
    """The real published tiny zoo plus one entry with a hostile model name and card."""
    zoo = tmp_path_factory.mktemp("served") / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    entry_writer(
        zoo,
        "figshare-brain",
        "hostile",
        value=0.5,
        model_name=HOSTILE,
        card_text=f"Card body {HOSTILE} [x](javascript:alert(1))",
    )
    return zoo


@pytest.fixture(scope="module")
def client(served_zoo: Path) -> Iterator[Client]:
    server = make_server(zoo=served_zoo, host="127.0.0.1", port=0, max_upload=256 * 1024, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def phantom_png(prepared_phantom: Callable[[str], Path]) -> bytes:
    """A test-split image of the figshare-brain phantom, as the zoo's tiny models were trained on."""
    from medzoo import datasets

    manifest = datasets.read_manifest(prepared_phantom("figshare-brain"))
    row = manifest[manifest["split"] == "test"].iloc[0]
    return (prepared_phantom("figshare-brain") / row["path"]).read_bytes()


def test_pages_are_served_with_security_headers(client: Client) -> None:
    status, headers, body = client.get("/")
    assert status == 200 and b'href="figshare-brain.html"' in body
    assert (
        "script-src 'self'" in headers["content-security-policy"]
        and headers["x-content-type-options"] == "nosniff"
    )
    status, _, body = client.get("/figshare-brain.html")
    assert status == 200 and b"figshare-brain/tiny_cnn/index.html" in body and b"paper-reported" in body
    status, _, body = client.get("/figshare-brain/tiny_cnn/")
    assert status == 200 and b'href="try.html"' in body
    status, headers, _ = client.get("/figshare-brain/tiny_cnn")
    assert status == 301 and headers["location"] == "/figshare-brain/tiny_cnn/"
    status, headers, png = client.get("/figshare-brain/tiny_cnn/plots/confusion_matrix.png")
    assert status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG")
    status, headers, _ = client.get("/figshare-brain/pareto.svg")
    assert status == 200 and headers["content-type"] == "image/svg+xml"
    status, headers, _ = client.get("/figshare-brain.json")
    assert status == 200 and headers["content-type"] == "application/json"
    for missing in (
        "/nope.html",
        "/figshare-brain/nope/",
        "/../../etc/passwd",
        "/figshare-brain/tiny_cnn/../../x",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/figshare-brain/tiny_cnn/plots/../config.json",
    ):
        assert client.get(missing)[0] == 404, missing


def test_try_a_model_on_a_phantom_image(client: Client, phantom_png: bytes) -> None:
    status, _, body = client.upload("/figshare-brain/tiny_cnn/try.html", "slice 1.png", phantom_png)
    page = body.decode()
    assert status == 200, page
    assert 'id="predicted"' in page and "data:image/png;base64," in page and 'id="cam-img"' in page
    for label in ("glioma", "meningioma", "pituitary"):
        assert label in page
    token = page.split('href="report/')[1].split(".html")[0]
    status, headers, report = client.get(f"/figshare-brain/tiny_cnn/report/{token}.html")
    assert status == 200 and b"Prediction report" in report and "attachment" in headers["content-disposition"]
    status, headers, pdf = client.get(f"/figshare-brain/tiny_cnn/report/{token}.pdf")
    assert status == 200 and headers["content-type"] == "application/pdf" and pdf.startswith(b"%PDF")
    assert client.get("/figshare-brain/tiny_cnn/report/not-a-token-at-all.pdf")[0] == 404


def _as_jpeg_and_dicom(png: bytes) -> tuple[bytes, bytes]:
    """The same phantom slice as a JPEG and as an MR DICOM file (with the DICM preamble)."""
    import io

    import numpy as np
    from PIL import Image
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    jpeg = io.BytesIO()
    Image.fromarray(grey).save(jpeg, format="JPEG", quality=95)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Rows, ds.Columns = "MR", grey.shape[0], grey.shape[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (grey.astype(np.uint16) * 4).tobytes()
    dicom = io.BytesIO()
    dcmwrite(dicom, ds, enforce_file_format=True)
    return jpeg.getvalue(), dicom.getvalue()


def test_jpeg_and_dicom_uploads_are_read_too(client: Client, phantom_png: bytes) -> None:
    jpeg, dicom = _as_jpeg_and_dicom(phantom_png)
    for name, data in (("slice.jpg", jpeg), ("slice.dcm", dicom)):
        status, _, body = client.upload("/figshare-brain/tiny_cnn/try.html", name, data)
        assert status == 200 and b'id="cam-img"' in body, (name, body[-2000:])


def test_bad_uploads_get_a_4xx_and_a_sentence_on_the_page(client: Client, phantom_png: bytes) -> None:
    url = "/figshare-brain/tiny_cnn/try.html"
    # wrong type, decided by content: a text file named .png
    status, _, body = client.upload(url, "scan.png", b"just some text, not an image")
    assert status == 415 and b"not a PNG, JPEG or DICOM" in body and b'id="error"' in body
    # a PNG header with a corrupt body: the reader refuses it
    status, _, body = client.upload(url, "broken.png", phantom_png[:40] + b"\x00" * 200)
    assert status == 422 and b'id="error"' in body and b"broken.png" in body
    # oversized: refused from Content-Length before decoding
    status, _, body = client.upload(url, "big.png", phantom_png[:8] + b"\x00" * (300 * 1024))
    assert status == 413 and b"at most" in body
    # not a form at all
    status, _, body = client.request("POST", url, phantom_png, {"Content-Type": "image/png"})
    assert status == 415 and b"multipart/form-data" in body
    # a form without the file field
    status, _, body = client.upload(url, "x.png", phantom_png, field="other")
    assert status == 400 and b"no file field" in body
    # upload to a page that is not a try page
    assert client.upload("/figshare-brain.html", "x.png", phantom_png)[0] == 404


def test_hostile_names_are_escaped_when_served(client: Client) -> None:
    for path in (
        "/",
        "/figshare-brain.html",
        "/figshare-brain/hostile/",
        "/figshare-brain/hostile/try.html",
        "/figshare-brain/pareto.svg",
        "/figshare-brain.md",
    ):
        status, _, body = client.get(path)
        assert status == 200, path
        assert b"<script>alert" not in body and b'javascript:alert(1)"' not in body, path
    assert b"&lt;script&gt;alert" in client.get("/figshare-brain/hostile/")[2]


def _form(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of plain (non-file) fields, as the example buttons send it."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    return body + f"--{boundary}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}"
    }


def _png_of(page: str, img_id: str):
    """The PNG inlined as a data: URI in the <img id=img_id> of a page, decoded to an array."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    src = page.split(f'id="{img_id}" src="data:image/png;base64,')[1].split('"')[0]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src))).convert("RGB"))


def test_published_entry_offers_its_overlay_inputs_as_examples(client: Client, tiny_zoo: Path) -> None:
    import io
    import json

    from PIL import Image

    folder = tiny_zoo / "figshare-brain" / "tiny_cnn" / "r1"
    index = json.loads((folder / "gradcam" / "index.json").read_text())
    size = json.loads((folder / "config.json").read_text())["pretrained_cfg"]["input_size"]
    inputs = [o["input"] for o in index]
    assert len(inputs) >= 2 and all(
        i == f"gradcam/inputs/{Path(o['file']).name}" for i, o in zip(inputs, index, strict=True)
    )
    assert sorted(p.name for p in (folder / "gradcam" / "inputs").iterdir()) == sorted(
        Path(i).name for i in inputs
    )
    with Image.open(folder / inputs[0]) as im:  # the image as the model saw it, not the overlay
        assert im.size == (size[2], size[1])
    status, _, body = client.get("/figshare-brain/tiny_cnn/try.html")
    page = body.decode()
    assert status == 200
    for rel in inputs:
        assert f'name="example" value="{rel}"' in page and f'<img src="{rel}"' in page
    status, headers, png = client.get(f"/figshare-brain/tiny_cnn/{inputs[0]}")
    assert status == 200 and headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png)).size == (size[2], size[1])
    # the entry page's gallery keeps showing evidence, not the examples
    assert "gradcam/inputs/" not in client.get("/figshare-brain/tiny_cnn/")[2].decode()


def test_an_example_prediction_shows_the_models_own_feature_maps(client: Client, tiny_zoo: Path) -> None:
    import json

    import numpy as np

    from medzoo.leaderboards.features import TOP_CHANNELS, grid_shape

    folder = tiny_zoo / "figshare-brain" / "tiny_cnn" / "r1"
    index = json.loads((folder / "gradcam" / "index.json").read_text())
    layer = json.loads((folder / "config.json").read_text())["medzoo"]["cam_layer"]
    grids = []
    for example in (index[0]["input"], index[-1]["input"], index[0]["input"]):
        body, headers = _form({"example": example, "threshold": "0.50"})
        status, _, answer = client.request("POST", "/figshare-brain/tiny_cnn/try.html", body, headers)
        page = answer.decode()
        assert status == 200, page
        assert 'id="predicted"' in page and 'id="cam-img"' in page
        assert f"feature maps of {layer}" in page and "own activations" in page and "random noise" in page
        grid = _png_of(page, "features-img")
        channels = page.split("(channel ")[1].split(")")[0].split(", ")
        assert 1 <= len(channels) <= TOP_CHANNELS
        assert grid.shape == (*grid_shape(len(channels)), 3)
        assert grid.std() > 0  # not a constant image
        grids.append(grid)
        token = page.split('href="report/')[1].split(".html")[0]
        report = client.get(f"/figshare-brain/tiny_cnn/report/{token}.html")[2].decode()
        assert f"feature maps of {layer}" in report
    # the model's activations: another image gives other maps, the same image the same ones (not noise)
    assert grids[0].shape == grids[1].shape and not np.array_equal(grids[0], grids[1])
    assert np.array_equal(grids[0], grids[2])
