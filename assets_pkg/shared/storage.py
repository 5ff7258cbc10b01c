"""Object storage: the options every read and write passes, and errors a user can act on.

A location is a local folder or an fsspec URL (`s3://bucket/prefix`, `gs://...`,
`memory://...`). For `s3://` the options come from the standard AWS variables, the same ones
the AWS CLI reads: `AWS_ENDPOINT_URL` (an S3-compatible store), `AWS_REGION` (or
`AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and
`AWS_ALLOW_HTTP` (`true` for a plain-http endpoint). A variable that is unset is left to each
library's own defaults (a profile, an instance role). `storage_options` turns them into the two
forms the code needs: keyword arguments of the fsspec filesystem (behind `UPath`) and polars'
`storage_options`. See docs/storage.md.

No request waits for ever: every S3 request has a connect and a read timeout and a bounded
number of attempts with exponential backoff (`S3_CONNECT_TIMEOUT`, `S3_READ_TIMEOUT`,
`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`; defaults below, docs/storage.md "Timeouts and
retries"); when they are spent, `describe_error` says so in one sentence naming the setting.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import posixpath
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from upath import UPath

LOCAL_SCHEMES = ("", "file", "local")

POLARS_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure")
"""Schemes polars reads itself (with `storage_options`); any other fsspec URL (`memory://`)
is read through its fsspec filesystem."""


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
"""Where an S3 endpoint is set, the more specific first (as the AWS CLI reads them)."""


S3_CONNECT_TIMEOUT_S = 5.0
"""Seconds to open a connection to the store (`S3_CONNECT_TIMEOUT` overrides)."""
S3_READ_TIMEOUT_S = 30.0
"""Seconds a request may go without receiving a byte (`S3_READ_TIMEOUT` overrides); polars'
own client counts it over a whole request."""
S3_MAX_ATTEMPTS = 3
"""Attempts per request, the first included (`AWS_MAX_ATTEMPTS` overrides, as for every AWS
tool); between two, botocore's exponential backoff with jitter (at most 1 s, then 2 s ...)."""
S3_RETRY_MODE = "standard"
"""botocore's retry mode (`AWS_RETRY_MODE` overrides): `standard` retries timeouts, dropped
connections, 5xx answers and throttling (`503 SlowDown`)."""
_RETRY_MODES = ("standard", "adaptive", "legacy")


class StorageError(OSError):
    """An object store cannot be used; the message names the setting to fix."""


@dataclass(frozen=True)
class Limits:
    """How long an S3 request may take, and how often it is tried."""

    connect_timeout: float = S3_CONNECT_TIMEOUT_S
    read_timeout: float = S3_READ_TIMEOUT_S
    max_attempts: int = S3_MAX_ATTEMPTS
    retry_mode: str = S3_RETRY_MODE


def limits(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits from the environment; StorageError naming the variable for a bad value."""
    env = os.environ if environ is None else environ
    mode = (env.get("AWS_RETRY_MODE") or S3_RETRY_MODE).strip().lower()
    if mode not in _RETRY_MODES:
        raise StorageError(
            f"AWS_RETRY_MODE is {env.get('AWS_RETRY_MODE')!r}: use one of "
            f"{', '.join(_RETRY_MODES)}, or leave it unset ({S3_RETRY_MODE})."
        )
    return Limits(
        connect_timeout=_number(env, "S3_CONNECT_TIMEOUT", S3_CONNECT_TIMEOUT_S, "seconds"),
        read_timeout=_number(env, "S3_READ_TIMEOUT", S3_READ_TIMEOUT_S, "seconds"),
        max_attempts=int(_number(env, "AWS_MAX_ATTEMPTS", S3_MAX_ATTEMPTS, "attempts")),
        retry_mode=mode,
    )


def _number(env: Mapping[str, str], name: str, default: float, unit: str) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    whole = unit == "attempts"
    if not (1 <= value <= 100 if whole else 0 < value <= 3600) or (whole and value != int(value)):
        bounds = "a whole number from 1 to 100" if whole else "a number of seconds up to 3600"
        raise StorageError(
            f"{name} is {text!r}, which is not {bounds}: fix it, or leave it unset "
            f"({default:g} {unit})."
        )
    return value


@dataclass(frozen=True)
class StorageOptions:
    fsspec: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the fsspec filesystem (`UPath(url, **fsspec)`)."""
    polars: dict[str, Any] = field(default_factory=dict)
    """polars' `storage_options` (`scan_parquet(url, storage_options=polars)`)."""


def scheme(location: str) -> str:
    """`s3` for `s3://bucket/prefix`, `` for a local path."""
    head, separator, _ = location.partition("://")
    return head.lower() if separator else ""


def is_local(location: str | UPath) -> bool:
    if isinstance(location, UPath):
        return location.protocol in LOCAL_SCHEMES
    return scheme(location) in LOCAL_SCHEMES


def storage_options(location: str, environ: Mapping[str, str] | None = None) -> StorageOptions:
    """The options for `location`, from the environment (see the module docstring)."""
    if scheme(location) not in ("s3", "s3a"):
        return StorageOptions()
    env = os.environ if environ is None else environ
    endpoint = next((env[name] for name in ENDPOINT_VARIABLES if env.get(name)), None)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    key = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN")
    allow_http = (env.get("AWS_ALLOW_HTTP") or "").strip().lower() in ("1", "true", "yes")
    bounds = limits(env)
    client: dict[str, str] = {}
    pl_options: dict[str, Any] = {
        "connect_timeout": f"{round(bounds.connect_timeout * 1000)}ms",
        "timeout": f"{round(bounds.read_timeout * 1000)}ms",
        "max_retries": bounds.max_attempts - 1,
    }
    if endpoint:
        client["endpoint_url"] = endpoint
        pl_options["aws_endpoint_url"] = endpoint
    if region:
        client["region_name"] = region
        pl_options["aws_region"] = region
    if allow_http:
        pl_options["aws_allow_http"] = "true"
    fs: dict[str, Any] = {"client_kwargs": client} if client else {}
    fs["config_kwargs"] = {
        "connect_timeout": bounds.connect_timeout,
        "read_timeout": bounds.read_timeout,
        # botocore's `max_attempts` counts retries only; `total_max_attempts` the first too.
        "retries": {"total_max_attempts": bounds.max_attempts, "mode": bounds.retry_mode},
    }
    if key and secret:
        fs |= {"key": key, "secret": secret}
        pl_options |= {"aws_access_key_id": key, "aws_secret_access_key": secret}
        if token:
            fs["token"] = token
            pl_options["aws_session_token"] = token
    return StorageOptions(fsspec=fs, polars=pl_options)


def upath(location: str) -> UPath:
    """`location` as a UPath whose filesystem carries the options from the environment."""
    if is_local(location):
        return UPath(location)
    remote: UPath = UPath(location, **storage_options(location).fsspec)
    _one_retry_layer(remote)
    return remote


def _one_retry_layer(path: UPath) -> None:
    """s3fs retries a failed call itself (5 times, on top of botocore's attempts, so that a
    stalled or throttling store took minutes): botocore's attempts are the only ones, bounded
    by `limits`. Its filesystems are cached by their options, so this holds for every path of
    the same store."""
    if path.protocol in ("s3", "s3a"):
        path.fs.retries = 1


def scan_parquet(path: UPath) -> pl.LazyFrame:
    """One Parquet file, lazily: polars reads local files and the object stores it knows
    with the storage options; other fsspec URLs are read through their filesystem. The path
    is never a pattern (`glob=False`): `[prod]` in a folder's name is just its name.

    S3 without a key pair in the environment goes through the fsspec filesystem as well:
    polars' own client reads only keys, an instance role and a few variables, where botocore
    (behind s3fs) follows the whole AWS chain (AWS_PROFILE, SSO, web identity...)."""
    if is_local(path):
        return pl.scan_parquet(path.path if path.protocol else str(path), glob=False)
    options = storage_options(str(path)).polars
    if path.protocol in POLARS_SCHEMES and not _needs_the_aws_chain(path.protocol, options):
        return pl.scan_parquet(str(path), storage_options=options or None, glob=False)
    return pl.read_parquet(io.BytesIO(path.read_bytes())).lazy()


def _needs_the_aws_chain(protocol: str, polars_options: Mapping[str, str]) -> bool:
    return protocol in ("s3", "s3a") and "aws_access_key_id" not in polars_options


def parquet_bytes(frame: pl.DataFrame, **options: Any) -> bytes:
    """`frame` as the bytes of one Parquet file."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, **options)
    return buffer.getvalue()


def put_bytes(path: UPath, data: bytes, setting: str) -> None:
    """Upload `data` to `path` in one request: the object appears whole or not at all, and
    what was there before stays intact when the upload fails."""
    try:
        path.write_bytes(data)
    except Exception as error:
        raise StorageError(describe_error(error, str(path), setting)) from error


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its class name when it has none: what a
    one-sentence message quotes of an error from a library."""
    return next(iter(str(error).strip().splitlines()), type(error).__name__)


def describe_error(
    error: BaseException, location: str, setting: str, bounds: Limits | None = None
) -> str:
    """One sentence saying which setting to fix for an error of the object store; `bounds`
    are the limits the failed request ran with (`limits()` unless given)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    text = first_line(error)
    if isinstance(error, StorageError):
        return str(error)
    gave_up = _gave_up(error, bounds)
    if gave_up is not None:
        return f"{setting} ({location}) {gave_up}"
    if "NoCredentialsError" in names or "PartialCredentialsError" in names:
        return (
            f"{setting} ({location}) cannot be used: no credentials were found; set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
        )
    if names & {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionError",
    } or isinstance(error, ConnectionError | TimeoutError):
        # The variable that set the endpoint, in `storage_options`' order.
        variable = next((name for name in ENDPOINT_VARIABLES if os.environ.get(name)), None)
        endpoint = os.environ[variable] if variable else "the default AWS endpoint"
        return (
            f"{setting} ({location}) cannot be reached at {endpoint} ({text}): check "
            f"{variable or 'AWS_ENDPOINT_URL'} and AWS_REGION."
        )
    if isinstance(error, PermissionError) or any(
        word in text for word in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
    ):
        return (
            f"{setting} ({location}) refused access ({text}): check AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY and the bucket's permissions."
        )
    if isinstance(error, FileNotFoundError) and "bucket" in text.lower():
        return f"{setting} ({location}) names a bucket that does not exist: create it or fix it."
    return f"{setting} ({location}) cannot be used: {text}."


_TIMEOUTS = frozenset(
    {"ReadTimeoutError", "ConnectTimeoutError", "FSTimeoutError", "TimeoutError", "timeout"}
)
_THROTTLED = ("SlowDown", "ServiceUnavailable", "reduce your request rate", "Throttl")


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the store as a whole cannot be used (it cannot be reached, kept
    timing out or throttling, or the credentials are missing), rather than one object."""
    names = {cls.__name__ for e in _causes(error) for cls in type(e).__mro__}
    return _gave_up(error, Limits()) is not None or bool(names & _STORE_DOWN)


_STORE_DOWN = frozenset(
    {"EndpointConnectionError", "ConnectionError", "NoCredentialsError", "PartialCredentialsError"}
)


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and the errors behind it (s3fs hands botocore's on as plain `OSError`s)."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _gave_up(error: BaseException, bounds: Limits | None = None) -> str | None:
    """The end of a sentence for a store that kept timing out or throttling after every
    attempt (`bounds`, `limits()` unless given), None for any other error."""
    chain = _causes(error)
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    texts = " ".join(str(e) for e in chain)
    if bounds is None:
        try:
            bounds = limits()
        except StorageError as bad:
            return f"cannot be used: {bad}"
    attempts = f"{bounds.max_attempts} attempt{'s' if bounds.max_attempts > 1 else ''}"
    if names & _TIMEOUTS or "timed out" in texts.lower():
        return (
            f"did not answer within S3_READ_TIMEOUT={bounds.read_timeout:g} s "
            f"(S3_CONNECT_TIMEOUT={bounds.connect_timeout:g} s to connect) in {attempts} "
            f"({first_line(chain[-1])}): check that the store is up and reachable, or raise "
            "S3_READ_TIMEOUT or AWS_MAX_ATTEMPTS."
        )
    busy = any(isinstance(e, OSError) and e.errno == errno.EBUSY for e in chain)
    if busy or any(word in texts for word in _THROTTLED):
        return (
            f"kept answering that it is busy (503 SlowDown, throttling) in {attempts} with "
            f"backoff ({first_line(chain[-1])}): run again later, or raise AWS_MAX_ATTEMPTS."
        )
    return None


_FAIL_FAST = Limits(connect_timeout=5, read_timeout=10, max_attempts=1)
"""The limits of the checks made when the code location loads."""


def _failing_fast(location: str) -> UPath:
    """`location` with one attempt per request and short timeouts: an endpoint that cannot
    be reached, or that accepts connections and never answers, fails in seconds."""
    options = storage_options(location).fsspec
    if scheme(location) in ("s3", "s3a"):
        timeouts = {
            "connect_timeout": _FAIL_FAST.connect_timeout,
            "read_timeout": _FAIL_FAST.read_timeout,
            "retries": {"total_max_attempts": _FAIL_FAST.max_attempts},
        }
        options = options | {"config_kwargs": timeouts}
    path: UPath = UPath(location, **options)
    _one_retry_layer(path)
    return path


def check_readable(location: str, setting: str) -> None:
    """Look `location` up once, failing fast: StorageError with one sentence when the store
    cannot be reached, the credentials are missing or refused, or (when nothing is there) its
    bucket cannot be found. That it holds the expected files is checked when a run reads it."""
    try:
        found = _failing_fast(location).exists()
        bucket = _bucket(location)
        # A missing bucket reads as an empty folder: say so rather than "nothing there".
        missing_bucket = not found and bucket is not None and not _failing_fast(bucket).exists()
    except Exception as error:
        raise StorageError(describe_error(error, location, setting, _FAIL_FAST)) from None
    if missing_bucket:
        raise StorageError(
            f"{setting} ({location}) names a bucket that does not exist, or that these "
            "credentials may not look up: create it or fix the name or the permissions."
        )


def bucket_name(location: str) -> str:
    """`bucket` for `s3://bucket/prefix` (any scheme's first segment); `` if there is none."""
    return location.partition("://")[2].split("/")[0]


def _bucket(location: str) -> str | None:
    """`s3://bucket` for `s3://bucket/prefix`; None for another scheme."""
    if scheme(location) not in ("s3", "s3a"):
        return None
    return f"{scheme(location)}://{bucket_name(location)}"


def check_object_store(location: str, setting: str) -> None:
    """Write and remove one empty object under `location`, failing fast: StorageError with
    one sentence when the store cannot be reached, the credentials are missing or refused,
    or the bucket does not exist."""
    probe = _failing_fast(location) / f".write-check-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
    except Exception as error:
        raise StorageError(describe_error(error, location, setting, _FAIL_FAST)) from None
    # A store may forbid deletes: writing is what counts.
    with contextlib.suppress(Exception):
        probe.unlink()


def local_path(path: UPath) -> Path:
    """The local path of a local UPath."""
    return Path(path.path if path.protocol else str(path))


def local_folder(location: str) -> Path:
    """The folder a local location names: a plain path, or a `file://` or `local://` URL
    (`file:///data/src` is `/data/src`)."""
    return Path(location.partition("://")[2]) if scheme(location) else Path(location)


def is_inside(location: str | Path, folder: str) -> bool:
    """Whether `location` is `folder` or lies anywhere under it, judged by where each leads.

    Local paths (plain, relative, or `file://`/`local://` URLs) are compared with `..` and
    symlinks resolved, and then by identity (device and inode) of each of `location`'s
    folders, so another name for the same folder (a bind mount, a case-insensitive disk)
    counts as inside. Object-store URLs are compared by store and prefix (`s3a://` is
    `s3://`). A local path is never inside an object store, nor the reverse."""
    where, base = str(location), folder
    if is_local(where) != is_local(base):
        return False
    if not is_local(base):
        return _same_prefix(_store_key(where), _store_key(base))
    target = local_folder(where).resolve()
    root = local_folder(base).resolve()
    if target == root or root in target.parents:
        return True
    try:
        root_stat = root.stat()
    except OSError:
        return False  # a folder that does not exist holds nothing
    for parent in (target, *target.parents):
        with contextlib.suppress(OSError):
            if os.path.samestat(parent.stat(), root_stat):
                return True
    return False


def _store_key(location: str) -> str:
    """`s3/bucket/prefix`, normalised: one scheme for s3 and s3a, no `.`, `..` or `//`."""
    store = {"s3a": "s3", "gcs": "gs"}.get(scheme(location), scheme(location))
    return store + posixpath.normpath("/" + location.partition("://")[2])


def _same_prefix(key: str, base: str) -> bool:
    return key == base or key.startswith(base.rstrip("/") + "/")


def printable_name(name: str) -> str:
    """A name read from a local file system as valid text: itself when its bytes are UTF-8,
    else with `\\xNN` for each byte that is not (Python hands such bytes over as lone
    surrogates, which no UTF-8 column, database or message can hold). A name is valid UTF-8
    exactly when this returns it unchanged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
