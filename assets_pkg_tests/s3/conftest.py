"""A real S3 API on loopback: moto's server mode, started once for the session.

Each test that asks for `s3_bucket` gets a fresh bucket and the standard AWS variables, set
as a user would set them for any S3-compatible store (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`): the code under
test reads nothing else.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from assets_pkg.shared import storage

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] is not installed: the object-storage tests need it"
)

REGION = "eu-central-1"

# The server logs every request at INFO: hundreds of lines in a failing test's report.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on a free loopback port."""
    port = _free_port()
    server: Any = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_variables(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3://<fresh bucket>`, with the AWS variables of the loopback server set."""
    for name, value in aws_variables(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    storage.upath(f"s3://{bucket}").fs.mkdir(bucket)
    return f"s3://{bucket}"
