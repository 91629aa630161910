"""Issue 11, class 4 (memory and decompression bombs) and issue 13's web-stack limits, against the real
server on 127.0.0.1.

Images that declare huge dimensions in tiny files are refused from their header
(nothing decodes them; the server's memory does not move); bodies past the
upload limit are refused while streaming; stalled clients are cut by the
timeouts while a normal client keeps loading pages; at most N predictions run
at once and the rest wait, then get 503.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from boards_zoo import PNG_1PX, Client, served, write_entry

DATASET = "figshare-brain"
TRY = f"/{DATASET}/good/try.html"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, size: int = 370) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` grey pixels, padded to ``size`` bytes."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
    pad = max(0, size - len(head) - len(idat) - 12 - 12)
    return head + idat + _chunk(b"tEXt", b"c\x00" + b"x" * max(0, pad - 2)) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + sof + b"\xff\xd9"


def dicom_declaring(rows: int, cols: int, *, frames: int = 1, payload: int = 8 * 2**20) -> bytes:
    """An RLE Lossless DICOM of ``payload`` bytes whose header declares rows x cols x frames pixels."""
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = RLELossless
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Rows, ds.Columns = "MR", rows, cols
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    segment = struct.pack("<16I", 1, 64, *([0] * 14))
    run = b"\x81\x00" * (payload // 2 // max(1, frames))  # RLE: each pair expands to 128 zero bytes
    ds.PixelData = encapsulate([segment + run for _ in range(frames)])
    ds["PixelData"].is_undefined_length = True
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


BOMBS: dict[str, tuple[bytes, int]] = {}


def _bombs() -> dict[str, tuple[bytes, int]]:
    """name -> (file, expected status); built once (the DICOM is 8 MB)."""
    if not BOMBS:
        BOMBS.update(
            {
                "png-30000.png": (png_declaring(30000, 30000), 413),
                "png-wide.png": (png_declaring(2**31 - 1, 1), 413),
                "png-zero.png": (png_declaring(0, 0), 400),
                "jpeg-65000.jpg": (jpeg_declaring(65000, 65000), 413),
                "rle-16000.dcm": (dicom_declaring(16000, 16000), 413),
                "frames-64x2048.dcm": (dicom_declaring(2048, 2048, frames=64, payload=2**20), 413),
                "png-truncated.png": (png_declaring(30000, 30000)[:20], 400),
            }
        )
    return BOMBS


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    zoo = tmp_path_factory.mktemp("bombs") / "zoo"
    write_entry(zoo, DATASET, "good")
    return zoo


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_images_declaring_huge_dimensions_are_refused_from_their_header(zoo: Path) -> None:
    bombs = _bombs()
    assert len(bombs["png-30000.png"][0]) == 370 and len(bombs["rle-16000.dcm"][0]) > 8 * 10**6
    with served(zoo) as server:
        client = Client(server.server_address[1])
        client.upload(TRY, "warm.png", png_declaring(30000, 30000))  # warm-up: imports, first render
        before = _rss_mb()
        for name, (data, expected) in bombs.items():
            started = time.perf_counter()
            status, headers, body = client.upload(TRY, name, data)
            page = body.decode()
            assert status == expected, (name, status, page[-800:])
            assert page.count('id="error"') == 1 and name in page, name
            assert time.perf_counter() - started < 5, name
            assert "content-security-policy" in headers
        grown = _rss_mb() - before
    assert grown < 150, f"server memory grew by {grown:.0f} MB while refusing bombs"
    assert "30000 x 30000" in _refusal(zoo, "png-30000.png") and "16000 x 16000" in _refusal(
        zoo, "rle-16000.dcm"
    )


def _refusal(zoo: Path, name: str) -> str:
    from medzoo.leaderboards.upload import UploadError, check_dimensions

    data = _bombs()[name][0]
    kind = "dicom" if name.endswith(".dcm") else "png"
    with pytest.raises(UploadError) as exc:
        check_dimensions(data, kind, filename=name)
    return exc.value.message


def test_a_body_past_the_limit_is_refused_while_streaming(zoo: Path) -> None:
    from medzoo.leaderboards.server import Limits

    with served(zoo, limits=Limits(max_upload=256 * 1024, body_timeout_s=30)) as server:
        port = server.server_address[1]
        # declared too large: answered at once, nothing of the body sent
        status, _, body = Client(port).request(
            "POST",
            TRY,
            b"",
            {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10**9)},
        )
        assert status == 413 and b"at most" in body
        # chunked, no length: 300 KB sent, then the client stalls; the 413 comes without the rest
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"POST {TRY} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode()
            )
            started = time.perf_counter()
            for _ in range(30):
                sock.sendall(b"2800\r\n" + b"\x00" * 0x2800 + b"\r\n")
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 413") and time.perf_counter() - started < 5


def _stall(port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(request)
    return sock


def _cut_after(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Seconds until the server answered or closed this stalled connection, and what it sent."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    finally:
        sock.close()
    return time.perf_counter() - started, data


def test_fifty_stalled_clients_are_cut_while_a_normal_client_loads_the_index(
    zoo: Path, record_property: Any
) -> None:
    from medzoo.leaderboards.server import Limits

    limits = Limits(header_timeout_s=2.0, body_timeout_s=2.0)
    with served(zoo, limits=limits) as server:
        port = server.server_address[1]
        client = Client(port)
        assert client.get("/")[0] == 200  # warm-up
        started = time.perf_counter()
        half_headers = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        no_body = f"POST {TRY} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        no_body_bytes = (no_body + "Content-Length: 100000\r\n\r\n").encode()
        stalled = [_stall(port, half_headers if i % 2 else no_body_bytes) for i in range(50)]
        latencies = []
        for _ in range(5):
            t0 = time.perf_counter()
            status, _, body = client.get("/")
            latencies.append(time.perf_counter() - t0)
            assert status == 200 and b"figshare-brain.html" in body
        results: list[tuple[float, bytes]] = [(0.0, b"")] * len(stalled)

        def wait(i: int) -> None:
            results[i] = _cut_after(stalled[i], started)

        threads = [threading.Thread(target=wait, args=(i,)) for i in range(len(stalled))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    cut = [seconds for seconds, _ in results]
    record_property("index_latency_s", latencies)
    record_property("stalled_cut_after_s", (min(cut), max(cut)))
    print(
        f"\nindex latency with 50 stalled clients: median {sorted(latencies)[2]:.3f} s, max {max(latencies):.3f} s"
    )
    print(f"stalled clients cut after {min(cut):.2f}..{max(cut):.2f} s (timeouts 2 s)")
    assert max(latencies) < 2.0, latencies
    assert max(cut) < 2.0 + 4.0, cut  # every stalled connection is cut by the timeout, none held
    answered = [data for i, (_, data) in enumerate(results) if i % 2 == 0]
    assert all(data.startswith(b"HTTP/1.1 408") for data in answered), {d[:40] for d in answered}


def test_at_most_n_predictions_at_once_and_the_rest_get_503(zoo: Path) -> None:
    from medzoo.leaderboards.server import App, LeaderboardServer, Limits

    running, peak, lock = [0], [0], threading.Lock()

    class SlowApp(App):
        def predict(self, row: Any, filename: str, data: bytes) -> dict[str, Any]:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(1.5)
            with lock:
                running[0] -= 1
            return {
                "filename": filename,
                "label": "glioma",
                "probabilities": [("glioma", 1.0)],
                "warnings": [],
                "input_uri": None,
                "cam_uri": None,
                "token": "t" * 22,
            }

    limits = Limits(max_inference=2, queue_timeout_s=0.5)
    server = LeaderboardServer(("127.0.0.1", 0), SlowApp(zoo), limits=limits, quiet=True)
    statuses: list[int] = []
    with served(zoo, server=server):
        client = Client(server.server_address[1])

        def upload() -> None:
            statuses.append(client.upload(TRY, "x.png", PNG_1PX)[0])

        threads = [threading.Thread(target=upload) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert client.get("/")[0] == 200
    assert peak[0] == 2 and sorted(statuses) == [200, 200, 503, 503, 503], (peak, statuses)
