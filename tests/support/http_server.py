"""A loopback HTTP file server for download tests: 127.0.0.1 only, one daemon thread, Range-aware.

Files are byte strings served at paths; a path can be set to misbehave the ways real hosts do:
``truncate`` (announce the whole length, send half, close), ``html`` (an HTML page, as dead share
links answer) and ``no-range`` (ignore Range and send the whole file). Every request's path and
Range header is recorded. Sockets time out after a few seconds, so a test cannot hang on it.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOCKET_TIMEOUT_S = 5.0
_RANGE = re.compile(r"bytes=(\d+)-$")


class _Handler(BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT_S
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        """Keep the test output clean."""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        files, modes = self.server.owner.files, self.server.owner.modes
        self.server.owner.requests.append((self.path, self.headers.get("Range")))
        if self.path not in files:
            self.send_error(404, "Not Found")
            return
        data, mode = files[self.path], modes.get(self.path)
        if mode == "html":
            self._send(200, b"<html><body>This link is no longer available</body></html>",
                       {"Content-Type": "text/html; charset=utf-8"})  # fmt: skip
            return
        start = 0
        asked = _RANGE.match(self.headers.get("Range") or "")
        if asked and mode != "no-range":
            start = int(asked.group(1))
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
        headers = {"Content-Type": "application/octet-stream"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if mode == "truncate":
            self._send(206 if start else 200, body[: len(body) // 2], headers, len(body))
            self.close_connection = True
            return
        self._send(206 if start else 200, body, headers)

    def _send(self, code: int, body: bytes, headers: dict, length: int | None = None) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FileServer


class FileServer:
    """Serve ``files`` (path -> bytes) at ``http://127.0.0.1:<port>``; use as a context manager."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def add(self, path: str, data: bytes, mode: str | None = None) -> str:
        """Serve ``data`` at ``path`` (misbehaving as ``mode`` says); return its URL."""
        self.files[path] = data
        if mode is None:
            self.modes.pop(path, None)
        else:
            self.modes[path] = mode
        return self.url(path)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=SOCKET_TIMEOUT_S)


def closed_port_url(path: str = "/file") -> str:
    """A loopback URL on which nothing listens (a port just released): connection refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
