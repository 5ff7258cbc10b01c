"""A loopback S3 endpoint whose object GETs fail: a proxy in front of the moto server that
passes every other request on (listings, HEADs, PUTs) and, for a GET of an object, either
never answers ("stall") or answers `503 SlowDown` ("slowdown"), as a store under load does."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)

Mode = Literal["stall", "slowdown", "none"]


class FaultyStore:
    def __init__(self, url: str, mode: Mode) -> None:
        self.url = url
        self.mode = mode
        self.faulted = 0
        """How many object GETs were faulted (attempts, retries included)."""


@contextmanager
def faulty_store(upstream: str, mode: Mode) -> Iterator[FaultyStore]:
    """A FaultyStore in front of `upstream` (moto's URL), stopped on exit (a stalled request
    is then let go, so no client waits past the test)."""
    target = urllib.parse.urlsplit(upstream)
    released = threading.Event()
    lock = threading.Lock()
    store: FaultyStore

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _faulted(self) -> bool:
            path, _, query = self.path.partition("?")
            is_object = len([part for part in path.split("/") if part]) > 1
            faulty = store.mode != "none" and self.command == "GET"
            return faulty and is_object and "list-type" not in query

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self._faulted():
                with lock:
                    store.faulted += 1
                if store.mode == "stall":
                    released.wait()
                    self.close_connection = True
                    return
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(SLOW_DOWN)))
                self.end_headers()
                self.wfile.write(SLOW_DOWN)
                return
            connection = http.client.HTTPConnection(target.hostname or "", target.port)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = target.netloc
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            size = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", size or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            connection.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    store = FaultyStore(f"http://127.0.0.1:{server.server_address[1]}", mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store
    finally:
        released.set()
        server.shutdown()
        server.server_close()
