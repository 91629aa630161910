"""The web app: ``medzoo leaderboard serve``: the static site's pages from the live zoo, plus try-a-model.

Standard library only (``ThreadingHTTPServer``); binds 127.0.0.1 unless told
otherwise. Boards are rebuilt from the zoo on each request, so a new publish
shows up on reload. Try-a-model answers ``POST <dataset>/<name>/try.html``
(multipart form, field ``image``): the upload is size-limited before it is
read (413), its type is decided by its magic bytes (415 unless PNG, JPEG or
DICOM), it stays in memory (nothing is written to disk), and the prediction,
heat map included, comes from the entry's own model via
``medzoo.zoo.inference.predict.Predictor``. Every error is a page with a 4xx status and
a sentence saying what to do.
"""

from __future__ import annotations

import collections
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from medzoo.errors import InputImageError, MedzooError
from medzoo.leaderboards.board import IMAGE_DIRS, Board, Row, read_card, table
from medzoo.leaderboards.markdown import to_markdown
from medzoo.leaderboards.pareto import pareto_svg
from medzoo.leaderboards.render import STATIC, Pages, card_href
from medzoo.leaderboards.site import all_boards, board_datasets, entry_dir

MAX_UPLOAD = 20 * 1024 * 1024
#: reports kept for download (newest first out of the door last); each holds two PNGs
MAX_REPORTS = 64
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_ACCEPTED = {"png": "PNG", "jpeg": "JPEG", "dicom": "DICOM"}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class _HttpError(Exception):
    """An answer other than 200, with the sentence the page shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class App:
    """Routes requests to pages; holds the loaded predictors and the recent reports (per server, not global)."""

    def __init__(self, zoo: Path, *, max_upload: int = MAX_UPLOAD, device: str | None = None) -> None:
        self.zoo = Path(zoo)
        self.max_upload = max_upload
        self.device = device
        self.pages = Pages(live=True)
        self._predictors: dict[str, Any] = {}
        self._reports: collections.OrderedDict[str, tuple[Row, dict[str, Any], str]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    # --- GET -----------------------------------------------------------------

    def get(self, raw_path: str) -> Response:
        try:
            return self._get(_segments(raw_path), slash=urlsplit(raw_path).path.endswith("/"))
        except _HttpError as exc:
            return self._error(exc.status, exc.message)
        except MedzooError as exc:
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.message)

    def _get(self, seg: list[str], *, slash: bool = True) -> Response:
        if seg in ([], ["index.html"]):
            return _html(self.pages.index(all_boards(self.zoo)))
        if len(seg) == 2 and seg[0] == "static" and seg[1] in {p.name for p in STATIC.iterdir()}:
            return _file(STATIC / seg[1])
        if len(seg) == 1:
            stem, dot, ext = seg[0].rpartition(".")
            if dot and ext in ("html", "json", "md"):
                board = self._board(stem)
                if ext == "html":
                    return _html(self.pages.board(board))
                if ext == "json":
                    return Response(200, json.dumps(board.to_dict(), indent=2).encode(), _TYPES[".json"])
                links = {r.entry_id: card_href(r) for r in board.rows}
                return Response(200, to_markdown(board, card_links=links).encode(), _TYPES[".md"])
        if seg[1:] == ["pareto.svg"]:
            return Response(200, pareto_svg(self._board(seg[0])).encode(), _TYPES[".svg"])
        if len(seg) >= 2:
            row = self._row(seg[0], seg[1])
            rest = seg[2:]
            if rest == [] and not slash:  # relative links on the entry page need the trailing slash
                return Response(
                    HTTPStatus.MOVED_PERMANENTLY, b"", headers={"Location": f"/{seg[0]}/{seg[1]}/"}
                )
            if rest in ([], ["index.html"]):
                return _html(self.pages.entry(row, read_card(entry_dir(self.zoo, row))[1]))
            if rest == ["README.md"]:
                return _file(entry_dir(self.zoo, row) / "README.md")
            if rest == ["try.html"]:
                return _html(self.pages.try_page(row, max_mb=self._max_mb()))
            if len(rest) == 2 and rest[0] == "report":
                return self._report(rest[1])
            if rest and rest[0] in IMAGE_DIRS and "/".join(rest) in row.images:
                return _file(entry_dir(self.zoo, row) / Path(*rest))
        raise _HttpError(HTTPStatus.NOT_FOUND, "No such page. Start from the index of leaderboards.")

    def _board(self, dataset: str) -> Board:
        if not _SEGMENT.fullmatch(dataset) or dataset not in board_datasets(self.zoo):
            raise _HttpError(HTTPStatus.NOT_FOUND, f"No leaderboard {dataset!r}; the index lists them all.")
        return table(dataset, zoo=self.zoo)

    def _row(self, dataset: str, name: str) -> Row:
        if not (_SEGMENT.fullmatch(name) and name not in {".", ".."}):
            raise _HttpError(HTTPStatus.NOT_FOUND, "No such entry.")
        for row in self._board(dataset).rows:
            if row.name == name:
                return row
        raise _HttpError(HTTPStatus.NOT_FOUND, f"No readable entry {dataset}/{name} in the zoo.")

    def _report(self, filename: str) -> Response:
        token, _, ext = filename.rpartition(".")
        with self._lock:
            found = self._reports.get(token) if _TOKEN.fullmatch(token) else None
        if found is None or ext not in ("html", "pdf"):
            raise _HttpError(
                HTTPStatus.NOT_FOUND, "This report has expired or never existed; run the prediction again."
            )
        row, result, created = found
        if ext == "html":
            body = self.pages.report(row, result, created=created).encode()
        else:
            from medzoo.leaderboards.report import pdf_report

            body = pdf_report(row, result, created=created)
        name = f"medzoo-report-{row.dataset}-{row.name}.{ext}"
        return Response(
            200, body, _TYPES[f".{ext}"], {"Content-Disposition": f'attachment; filename="{name}"'}
        )

    # --- POST: try-a-model ------------------------------------------------------

    def post(self, raw_path: str, *, content_type: str, length: int | None, body: BinaryIO) -> Response:
        """Answer an upload; the body is drained even when refused, so the client reads our answer."""
        try:
            seg = _segments(raw_path)
        except _HttpError as exc:
            _drain(body, length, self.max_upload)
            return self._error(exc.status, exc.message)
        if len(seg) != 3 or seg[2] != "try.html":
            _drain(body, length, self.max_upload)
            return self._error(HTTPStatus.NOT_FOUND, "Uploads go to <dataset>/<name>/try.html.")
        try:
            row = self._row(seg[0], seg[1])
        except (_HttpError, MedzooError) as exc:
            _drain(body, length, self.max_upload)
            return self._error(getattr(exc, "status", HTTPStatus.INTERNAL_SERVER_ERROR), exc.message)
        try:
            filename, data = self._read_upload(content_type, length, body)
            result = self._predict(row, filename, data)
        except _HttpError as exc:
            return _html(self.pages.try_page(row, max_mb=self._max_mb(), error=exc.message), exc.status)
        except InputImageError as exc:
            return _html(
                self.pages.try_page(row, max_mb=self._max_mb(), error=exc.message),
                HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        except MedzooError as exc:
            return _html(
                self.pages.try_page(
                    row, max_mb=self._max_mb(), error=exc.message, error_title="This model cannot be used"
                ),
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )
        return _html(self.pages.try_page(row, max_mb=self._max_mb(), result=result))

    def _read_upload(self, content_type: str, length: int | None, body: BinaryIO) -> tuple[str, bytes]:
        if length is None:
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "The upload must state its Content-Length.")
        if length > self.max_upload:
            _drain(body, length, self.max_upload)
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"Uploads must be at most {self._max_mb()} MB; this one is {length / 2**20:.1f} MB. "
                "Export a single image (PNG, JPEG or one DICOM slice) instead.",
            )
        raw = body.read(length)
        if not content_type.lower().startswith("multipart/form-data"):
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Send the image as a multipart/form-data form field 'image'; got {content_type!r}.",
            )
        filename, data = _multipart_file(content_type, raw, field="image")
        from medzoo.zoo.inference.imageio import sniff

        kind = sniff(data)
        if kind not in _ACCEPTED:
            head = data[:8].hex(" ")
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"{filename!r} is not a PNG, JPEG or DICOM image (decided by its content: it starts with bytes "
                f"{head}{', a ' + kind + ' file' if kind else ''}). Upload one of those formats.",
            )
        return filename, data

    def _predict(self, row: Row, filename: str, data: bytes) -> dict[str, Any]:
        from medzoo.leaderboards.report import prediction_result

        predictor = self._predictor(row)
        prediction = predictor.predict(data, filename=filename, cam=True)
        token = secrets.token_urlsafe(16)
        result = prediction_result(prediction, filename=filename, token=token)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self._reports[token] = (row, result, created)
            while len(self._reports) > MAX_REPORTS:
                self._reports.popitem(last=False)
        return result

    def _predictor(self, row: Row) -> Any:
        """One loaded model per entry revision, created on first use."""
        key = f"{row.entry_id}@{row.revision}"
        with self._lock:
            if key not in self._predictors:
                from medzoo.zoo.inference.predict import Predictor

                self._predictors[key] = Predictor.from_entry(key, zoo=self.zoo, device=self.device)
            return self._predictors[key]

    # --- helpers ----------------------------------------------------------------

    def _max_mb(self) -> int:
        return max(1, self.max_upload // 2**20)

    def _error(self, status: int, message: str) -> Response:
        status = HTTPStatus(status)
        return _html(self.pages.error(status.value, status.phrase, message), status.value)


def _segments(raw_path: str) -> list[str]:
    path = unquote(urlsplit(raw_path).path)
    seg = [s for s in path.split("/") if s]
    # segments are only ever compared with known names, never joined blindly; still refuse the obvious
    if any(s.startswith(".") or "\\" in s or "\x00" in s for s in seg) or len(seg) > 6:
        raise _HttpError(HTTPStatus.NOT_FOUND, "No such page.")
    return seg


def _html(text: str, status: int = 200) -> Response:
    return Response(int(status), text.encode("utf-8"))


def _file(path: Path) -> Response:
    return Response(200, path.read_bytes(), _TYPES.get(path.suffix.lower(), "application/octet-stream"))


def _drain(body: BinaryIO, length: int | None, limit: int) -> None:
    """Read and drop a refused body (up to 4x the limit) so the client is not cut off mid-send."""
    remaining = length if length is not None and length <= 4 * limit else 0
    while remaining > 0:
        chunk = body.read(min(remaining, 1 << 20))
        if not chunk:
            break
        remaining -= len(chunk)


def _multipart_file(content_type: str, raw: bytes, *, field: str) -> tuple[str, bytes]:
    """(filename, bytes) of the form field ``field`` in a multipart/form-data body."""
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise _HttpError(HTTPStatus.BAD_REQUEST, "The form body is not valid multipart/form-data.")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field:
            data = part.get_payload(decode=True) or b""
            if not data:
                raise _HttpError(HTTPStatus.BAD_REQUEST, "The uploaded file is empty; choose an image file.")
            name = Path(part.get_filename() or "upload").name[:200]
            return name, data
    raise _HttpError(
        HTTPStatus.BAD_REQUEST, f"The form has no file field {field!r}; choose an image and submit."
    )


class _Handler(BaseHTTPRequestHandler):
    server_version = "medzoo-leaderboard"
    server: LeaderboardServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(self.server.app.get(self.path))

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(self.server.app.get(self.path), body=False)

    def do_POST(self) -> None:  # noqa: N802
        raw_length = self.headers.get("Content-Length")
        try:
            length = int(raw_length) if raw_length is not None else None
        except ValueError:
            length = None
        if length is not None and length < 0:
            length = None
        response = self.server.app.post(
            self.path, content_type=self.headers.get("Content-Type", ""), length=length, body=self.rfile
        )
        self._send(response)

    def _send(self, response: Response, *, body: bool = True) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**_SECURITY_HEADERS, **response.headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        if not self.server.quiet:
            super().log_message(format, *args)


class LeaderboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App, *, quiet: bool) -> None:
        self.app = app
        self.quiet = quiet
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(
    *,
    zoo: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    max_upload: int = MAX_UPLOAD,
    device: str | None = None,
    quiet: bool = False,
) -> LeaderboardServer:
    """A ready, bound server (``port=0`` picks a free one; see ``.url``); call ``serve_forever``."""
    return LeaderboardServer((host, port), App(Path(zoo), max_upload=max_upload, device=device), quiet=quiet)


def serve(*, zoo: str | Path, host: str = "127.0.0.1", port: int = 8765, echo: Any = print) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = make_server(zoo=zoo, host=host, port=port)
    echo(f"medzoo leaderboards on {server.url} (zoo {zoo}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
