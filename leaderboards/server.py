"""The web app: ``medzoo leaderboard serve``: the static site's pages from the live zoo, plus try-a-model.

Starlette under uvicorn; binds 127.0.0.1 unless told otherwise. Boards are
rebuilt from the zoo (a folder or an ``s3://`` / ``gs://`` URI) on each request,
so a new publish shows up on reload, and one unreadable entry is listed under
problems while every page keeps working. Try-a-model answers
``POST <dataset>/<name>/try.html`` (multipart form: the file field ``image``, or
``example`` naming one of the entry's ``gradcam/inputs/`` images; optional
``threshold`` in [0, 1] for the decision, see :func:`decide`); the answer shows the
probabilities, the Grad-CAM overlay and the feature maps of the entry's ``cam_layer``
(its own activations, hooked during the prediction: :mod:`.features`). Besides the site's
pages it serves ``<dataset>/_dataset.html`` and ``<dataset>/_sweeps/<run>.html``.

What protects the server from its clients (see :class:`Limits`):

- a connection must complete its request headers within ``header_timeout_s`` and
  its body within ``body_timeout_s``, else it is answered 408 or closed, so
  stalled clients cannot hold the server;
- an upload is refused with 413 as soon as its declared or streamed size passes
  ``max_upload`` (the rest is never read); its type is decided by magic bytes
  (415 unless PNG, JPEG or DICOM); its pixel dimensions are read from the file's
  header and large images refused (413) before anything decodes them;
- at most ``max_inference`` decodes and predictions run at once, in worker
  threads; further requests wait up to ``queue_timeout_s``, then get 503;
- uploads stay in memory (nothing is written to disk); every answer carries a
  strict Content-Security-Policy; every error is a page with a sentence saying
  what to do.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from medzoo.errors import InputImageError, MedzooError
from medzoo.leaderboards.board import IMAGE_DIRS, Board, Row, table
from medzoo.leaderboards.entries import MAX_CARD_BYTES, read_file, zoo_location
from medzoo.leaderboards.features import capture, feature_maps
from medzoo.leaderboards.markdown import to_markdown
from medzoo.leaderboards.pareto import pareto_svg
from medzoo.leaderboards.render import STATIC, Pages, card_href
from medzoo.leaderboards.site import all_boards, board_datasets, card_text, entry_parts
from medzoo.leaderboards.sweeps import Sweep, sweeps_of
from medzoo.leaderboards.upload import UploadError, check_dimensions, read_body

if TYPE_CHECKING:
    from medzoo.storage import Location

MAX_UPLOAD = 20 * 1024 * 1024
#: reports kept for download (oldest dropped first); each holds two PNGs
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
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ACCEPTED = {"png": "PNG", "jpeg": "JPEG", "dicom": "DICOM"}


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one client may cost the server (see the module docstring)."""

    max_upload: int = MAX_UPLOAD
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_s: float = 5.0
    max_inference: int = 2
    queue_timeout_s: float = 30.0
    max_connections: int = 512


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
    """Pages and predictions, independent of the HTTP machinery; holds the loaded predictors and the recent
    reports (per server, not global). Every method is synchronous and runs in a worker thread."""

    def __init__(
        self, zoo: str | Path | Location, *, max_upload: int = MAX_UPLOAD, device: str | None = None
    ):
        self.zoo = zoo_location(zoo)
        self.max_upload = max_upload
        self.device = device
        self.pages = Pages(live=True)
        self._predictors: dict[str, tuple[Any, threading.Lock]] = {}
        self._reports: collections.OrderedDict[str, tuple[Row, dict[str, Any], str]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    # --- GET -----------------------------------------------------------------

    def get(self, raw_path: str) -> Response:
        try:
            return self._get(_segments(raw_path), slash=urlsplit(raw_path).path.endswith("/"))
        except _HttpError as exc:
            return self.error(exc.status, exc.message)
        except MedzooError as exc:
            return self.error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.message)

    def _get(self, seg: list[str], *, slash: bool = True) -> Response:
        if seg in ([], ["index.html"]):
            return _html(self.pages.index(all_boards(self.zoo)))
        if len(seg) == 2 and seg[0] == "static" and seg[1] in {p.name for p in STATIC.iterdir()}:
            return _typed((STATIC / seg[1]).read_bytes(), seg[1])
        if len(seg) == 1:
            stem, dot, ext = seg[0].rpartition(".")
            if dot and ext in ("html", "json", "md"):
                return self._board_view(self.board(stem), ext)
        if seg[1:] == ["pareto.svg"]:
            return Response(200, pareto_svg(self.board(seg[0])).encode(), _TYPES[".svg"])
        if seg[1:] == ["_dataset.html"]:
            return _html(self.pages.dataset(self.board(seg[0])))
        if len(seg) == 3 and seg[1] == "_sweeps" and seg[2].endswith(".html"):
            return _html(self.pages.sweep(self._sweep(seg[0], seg[2].removesuffix(".html"))))
        if len(seg) >= 2:
            return self._entry_view(self.row(seg[0], seg[1]), seg[2:], slash=slash)
        raise _HttpError(HTTPStatus.NOT_FOUND, "No such page. Start from the index of leaderboards.")

    def _board_view(self, board: Board, ext: str) -> Response:
        if ext == "html":
            return _html(self.pages.board(board))
        if ext == "json":
            return Response(200, json.dumps(board.to_dict(), indent=2).encode(), _TYPES[".json"])
        links = {r.entry_id: card_href(r) for r in board.rows}
        return Response(200, to_markdown(board, card_links=links).encode(), _TYPES[".md"])

    def _entry_view(self, row: Row, rest: list[str], *, slash: bool) -> Response:
        if rest == [] and not slash:  # relative links on the entry page need the trailing slash
            return Response(
                HTTPStatus.MOVED_PERMANENTLY, b"", headers={"Location": f"/{row.dataset}/{row.name}/"}
            )
        if rest in ([], ["index.html"]):
            return _html(self.pages.entry(row, card_text(self.zoo, row)))
        if rest == ["README.md"]:
            data = read_file(self.zoo, entry_parts(row), "README.md", max_bytes=MAX_CARD_BYTES)
            return _typed(data, "README.md")
        if rest == ["try.html"]:
            return self.try_page(row)
        if len(rest) == 2 and rest[0] == "report":
            return self._report(rest[1])
        if rest and rest[0] in IMAGE_DIRS and "/".join(rest) in row.images:
            return _typed(read_file(self.zoo, entry_parts(row), "/".join(rest)), rest[-1])
        raise _HttpError(HTTPStatus.NOT_FOUND, "No such page. Start from the index of leaderboards.")

    def board(self, dataset: str) -> Board:
        if not _SEGMENT.fullmatch(dataset) or dataset not in board_datasets(self.zoo):
            raise _HttpError(HTTPStatus.NOT_FOUND, f"No leaderboard {dataset!r}; the index lists them all.")
        return table(dataset, zoo=self.zoo)

    def _sweep(self, dataset: str, slug: str) -> Sweep:
        for sweep in sweeps_of(self.board(dataset)):
            if sweep.slug == slug:
                return sweep
        raise _HttpError(HTTPStatus.NOT_FOUND, f"No sweep {slug!r} behind the {dataset} board's entries.")

    def row(self, dataset: str, name: str) -> Row:
        if not (_SEGMENT.fullmatch(name) and name not in {".", ".."}):
            raise _HttpError(HTTPStatus.NOT_FOUND, "No such entry.")
        for row in self.board(dataset).rows:
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

    # --- try-a-model --------------------------------------------------------------

    def predict(self, row: Row, filename: str, data: bytes) -> dict[str, Any]:
        """Decode and predict (the caller bounds how many run at once); keeps the report for download."""
        from medzoo.leaderboards.report import data_uri, prediction_result

        predictor, lock = self._predictor(row)
        med = predictor.config.medzoo
        # under the entry's lock, so the hook sees only this request's forward pass
        with lock, capture(predictor.model, med.cam_layer) as captured:
            prediction = predictor.predict(data, filename=filename, cam=True)
        token = secrets.token_urlsafe(16)
        result = prediction_result(prediction, filename=filename, token=token)
        maps = (
            feature_maps(captured.output, layer=med.cam_layer, reshape=med.cam_reshape)
            if med.cam_layer
            else None
        )
        result.update(
            features_png=maps.png if maps else None,
            features_uri=data_uri(maps.png) if maps else None,
            features_layer=maps.layer if maps else None,
            features_channels=list(maps.channels) if maps else [],
        )
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self._reports[token] = (row, result, created)
            while len(self._reports) > MAX_REPORTS:
                self._reports.popitem(last=False)
        return result

    def _predictor(self, row: Row) -> tuple[Any, threading.Lock]:
        """One loaded model per entry revision, created on first use, with the lock that serialises its use
        (its feature-map hook must see one request's forward pass at a time)."""
        key = f"{row.entry_id}@{row.revision}"
        with self._lock:
            if key not in self._predictors:
                from medzoo.zoo.inference.predict import Predictor

                predictor = Predictor.from_entry(key, zoo=self.zoo, device=self.device)
                self._predictors[key] = (predictor, threading.Lock())
            return self._predictors[key]

    def try_page(self, row: Row, *, status: int = 200, **kw: Any) -> Response:
        """The try-a-model page; its entry choice lists the board's readable entries."""
        choices = [r for r in self.board(row.dataset).rows if r.data_kind == row.data_kind] or [row]
        return _html(self.pages.try_page(row, max_mb=self.max_mb(), choices=choices, **kw), status)

    def example(self, row: Row, rel: str) -> tuple[str, bytes]:
        """(filename, bytes) of one of the entry's example inputs (``gradcam/inputs/...``), link-checked."""
        if not rel.startswith("gradcam/inputs/") or rel not in row.images:
            raise UploadError(
                HTTPStatus.BAD_REQUEST, f"{rel!r} is not one of this entry's example images; pick one shown."
            )
        return rel.rsplit("/", 1)[-1], read_file(self.zoo, entry_parts(row), rel, max_bytes=self.max_upload)

    def max_mb(self) -> int:
        return max(1, self.max_upload // 2**20)

    def error(self, status: int, message: str) -> Response:
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


def _typed(data: bytes, name: str) -> Response:
    return Response(200, data, _TYPES.get(Path(name).suffix.lower(), "application/octet-stream"))


# --- HTTP: Starlette ---------------------------------------------------------------------------------


class Web:
    """The ASGI side: routes requests to :class:`App` in worker threads and bounds uploads and inference."""

    def __init__(self, app: App, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.max_inference)

    def asgi(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        routes = [Route("/{path:path}", self.handle, methods=["GET", "HEAD", "POST"])]
        return _SecurityHeaders(Starlette(routes=routes))

    async def handle(self, request: Any) -> Any:
        import anyio

        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if request.method == "POST":
            response = await self.post(request, raw)
        else:
            response = await anyio.to_thread.run_sync(self.app.get, raw)
        return _starlette(response)

    async def post(self, request: Any, raw: str) -> Response:
        """Answer an upload; a refused body is not read further and the connection is closed."""
        import anyio

        try:
            seg = _segments(raw)
            if len(seg) != 3 or seg[2] != "try.html":
                raise _HttpError(HTTPStatus.NOT_FOUND, "Uploads go to <dataset>/<name>/try.html.")
            row = await anyio.to_thread.run_sync(self.app.row, seg[0], seg[1])
        except (_HttpError, MedzooError) as exc:
            return _closing(
                self.app.error(getattr(exc, "status", HTTPStatus.INTERNAL_SERVER_ERROR), exc.message)
            )
        try:
            filename, data, threshold = await self._upload(request, row)
            result = await self._infer(row, filename, data)
            result.update(decide(result, row=row, threshold=threshold))
        except UploadError as exc:
            return _closing(self.app.try_page(row, status=exc.status, error=exc.message))
        except InputImageError as exc:
            return self.app.try_page(row, status=HTTPStatus.UNPROCESSABLE_ENTITY, error=exc.message)
        except MedzooError as exc:
            return self.app.try_page(
                row, status=500, error=exc.message, error_title="This model cannot be used"
            )
        return self.app.try_page(row, result=result)

    async def _upload(self, request: Any, row: Row) -> tuple[str, bytes, float | None]:
        """(filename, bytes, threshold) from the form: the file field ``image`` or the field ``example`` (one
        of the entry's example inputs), and the optional ``threshold``; size- and time-bounded, type and
        dimensions checked."""
        import anyio

        from medzoo.zoo.inference.imageio import sniff

        content_type = request.headers.get("content-type", "")
        body = await read_body(
            request.stream(),
            declared=_content_length(request.headers.get("content-length")),
            limit=self.limits.max_upload,
            timeout_s=self.limits.body_timeout_s,
        )
        if not content_type.lower().startswith("multipart/form-data"):
            raise UploadError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Send the image as a multipart/form-data form field 'image'; got {content_type!r}.",
            )
        fields = multipart_fields(content_type, body)
        threshold = _threshold(fields.get("threshold"))
        example = fields.get("example")
        if example is not None and example[1]:
            rel = example[1].decode("utf-8", "replace")
            filename, data = await anyio.to_thread.run_sync(self.app.example, row, rel)
        else:
            filename, data = _file_part_of(fields, "image")
        kind = sniff(data)
        if kind not in _ACCEPTED:
            raise UploadError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"{filename!r} is not a PNG, JPEG or DICOM image (decided by its content: it starts with bytes "
                f"{data[:8].hex(' ')}{', a ' + kind + ' file' if kind else ''}). Upload one of those formats.",
            )
        check_dimensions(data, kind, filename=filename)
        return filename, data, threshold

    async def _infer(self, row: Row, filename: str, data: bytes) -> dict[str, Any]:
        """Run the decode and prediction in a worker thread, at most ``max_inference`` at once."""
        import anyio

        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.queue_timeout_s)
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
            raise UploadError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"The server is busy: {self.limits.max_inference} predictions are running and others waited "
                f"{self.limits.queue_timeout_s:g} s. Try again in a minute.",
            ) from None
        try:
            return await anyio.to_thread.run_sync(self.app.predict, row, filename, data)
        finally:
            self._slots.release()


def _threshold(field: tuple[str | None, bytes] | None) -> float | None:
    """The decision threshold posted with the form (a number in [0, 1]), or None when not sent."""
    if field is None or not field[1].strip():
        return None
    text = field[1].decode("ascii", "replace").strip()
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"The threshold must be a number from 0 to 1, got {text[:20]!r}."
        )
    return value


def decide(result: dict[str, Any], *, row: Row, threshold: float | None) -> dict[str, Any]:
    """The decision at ``threshold`` (default: 0 for multi-class; the entry's own, else 0.5, for binary and
    multi-label): binary -> the positive class (the second label) when its probability reaches the
    threshold; multi-label -> every label at or above it; multi-class -> the top class, or "uncertain"
    when its probability is below the threshold (a minimum confidence)."""
    default = 0.0 if row.task == "multiclass" else (row.threshold if row.threshold is not None else 0.5)
    t = default if threshold is None else threshold
    probs = dict(result["probabilities"])
    if row.task == "binary" and len(row.labels) == 2:
        negative, positive = row.labels
        decision = positive if probs.get(positive, 0.0) >= t else negative
    elif row.task == "multilabel":
        decision = ", ".join(name for name, p in result["probabilities"] if p >= t) or "no finding"
    else:
        name, p = result["probabilities"][0]
        decision = name if p >= t else f"uncertain (top probability {p:.3f} is below {t:.2f})"
    return {"threshold": t, "decision": decision, "task": row.task}


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise UploadError(HTTPStatus.BAD_REQUEST, f"Content-Length must be a number of bytes, got {value!r}.")
    return int(value)


def _closing(response: Response) -> Response:
    """Close the connection after this answer (the body may be unread)."""
    response.headers["Connection"] = "close"
    return response


def _starlette(response: Response) -> Any:
    from starlette.responses import Response as StarletteResponse

    return StarletteResponse(
        response.body, status_code=response.status, headers=response.headers, media_type=response.content_type
    )


class _SecurityHeaders:
    """ASGI middleware: every answer, errors of the framework included, carries the security headers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k for k, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in self.extra if h[0] not in have)],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)


def multipart_file(content_type: str, body: bytes, *, field: str) -> tuple[str, bytes]:
    """(filename, bytes) of the file field ``field`` of a multipart/form-data body (python-multipart)."""
    return _file_part_of(multipart_fields(content_type, body), field)


def multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Field name -> (filename or None, bytes) of a multipart/form-data body (the first of each name)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, "The form body is not valid multipart/form-data (no boundary)."
        )
    parts: list[dict[str, Any]] = []
    header: list[bytes] = [b"", b""]

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": []})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        parts[-1]["headers"][header[0].lower()] = header[1]
        header[0], header[1] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].append(data[start:end])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"The form body is not valid multipart/form-data ({exc})."
        ) from None
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        fields.setdefault(
            name, (None if filename is None else filename.decode("utf-8", "replace"), b"".join(part["data"]))
        )
    return fields


def _file_part_of(fields: dict[str, tuple[str | None, bytes]], field: str) -> tuple[str, bytes]:
    """(safe file name, bytes) of the file field ``field``; empty or missing -> 400 with what to do."""
    if field not in fields:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"The form has no file field {field!r}; choose an image and submit."
        )
    filename, data = fields[field]
    if not data:
        raise UploadError(HTTPStatus.BAD_REQUEST, "The uploaded file is empty; choose an image file.")
    name = filename if filename is not None else "upload"
    return Path(name.replace("\\", "/")).name[:200] or "upload", data


# --- the server --------------------------------------------------------------------------------------


def _protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose next request headers are not complete within
    ``header_timeout_s`` (uvicorn's own keep-alive timer is cancelled by any byte, so a client that trickles
    or stalls inside its headers would hold the connection for ever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_response_complete(self) -> None:
            self._arm_header_deadline()  # before a pipelined request replaces the finished cycle
            super().on_response_complete()

        def _arm_header_deadline(self) -> None:
            previous = getattr(self, "_header_deadline", None)
            if previous is not None:
                previous.cancel()
            armed_for = self.cycle  # a new request replaces the cycle; until then we wait for its headers
            self._header_deadline = self.loop.call_later(
                header_timeout_s, self._header_deadline_passed, armed_for
            )

        def _header_deadline_passed(self, armed_for: Any) -> None:
            if self.cycle is armed_for and not self.transport.is_closing():
                self.timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            if getattr(self, "_header_deadline", None) is not None:
                self._header_deadline.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


class LeaderboardServer:
    """A bound uvicorn server: ``serve_forever()`` (blocks), ``shutdown()`` (from another thread), ``url``."""

    def __init__(self, address: tuple[str, int], app: App, *, limits: Limits, quiet: bool) -> None:
        import uvicorn

        self.app = app
        self.limits = limits
        self.socket = socket.create_server(address, family=_family(address[0]))
        config = uvicorn.Config(
            Web(app, limits).asgi(),
            http=_protocol(limits.header_timeout_s),
            timeout_keep_alive=int(max(1, limits.keep_alive_s)),
            limit_concurrency=limits.max_connections,
            timeout_graceful_shutdown=5,
            log_config=None,
            access_log=not quiet,
            log_level="warning" if quiet else "info",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._done = threading.Event()

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        self._done.clear()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._done.set()

    def shutdown(self, timeout_s: float = 15.0) -> None:
        self._server.should_exit = True
        self._done.wait(timeout_s)

    def server_close(self) -> None:
        self.socket.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def make_server(
    *,
    zoo: str | Path | Location,
    host: str = "127.0.0.1",
    port: int = 8765,
    max_upload: int = MAX_UPLOAD,
    device: str | None = None,
    quiet: bool = False,
    limits: Limits | None = None,
) -> LeaderboardServer:
    """A ready, bound server (``port=0`` picks a free one; see ``.url``); call ``serve_forever``."""
    limits = limits or Limits(max_upload=max_upload)
    app = App(zoo, max_upload=limits.max_upload, device=device)
    return LeaderboardServer((host, port), app, limits=limits, quiet=quiet)


def serve(
    *, zoo: str | Path | Location, host: str = "127.0.0.1", port: int = 8765, echo: Any = print
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = make_server(zoo=zoo, host=host, port=port)
    echo(f"medzoo leaderboards on {server.url} (zoo {zoo}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
