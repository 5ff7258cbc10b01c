"""The sources on an S3 API (moto on loopback): the same rules and results as a local folder."""

from __future__ import annotations

import datetime as dt
import errno
import time
from pathlib import Path

import duckdb
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.purchases.feed import (
    FeedReadError,
    badly_named_day_folders,
    find_day_files,
    fingerprint,
    read_day_file,
    source_root,
    weeks_with_data,
)
from assets_pkg.purchases.parse import parse_day_files
from assets_pkg.shared import storage
from assets_pkg.shared.location import Location
from assets_pkg.shared.settings import ConfigurationError
from assets_pkg.signatures.etl import read_sources
from assets_pkg.signatures.etl import source_root as signature_source_root

from .test_s3_errors import unreachable
from .test_s3_warehouse import PURCHASES, SIGNATURES, assert_same_warehouse, build, settings

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(10)]


def upload(local: Path, url: str) -> str:
    """Every file under `local` as an object under `url` (one PUT each)."""
    root = storage.upath(url)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            (root / path.relative_to(local).as_posix()).write_bytes(path.read_bytes())
    return url


def odd_feed(folder: Path) -> Path:
    """A feed with every kind of entry an object store can hold: parts in name order, a
    `*.json` "folder", an object where a day folder belongs, badly named folders (one
    whose name starts with a day folder's), a missing day, and a line that is not JSON."""
    good = b'{"customer_id": "C1", "date_of_purchase": "2024-01-02 10:00:00", '
    good += b'"basket": [{"product_id": "P1", "price": 5}]}\n'
    days = folder / "transactions"
    for name, data in {
        "d=2024-01-02/b.json": good,
        "d=2024-01-02/a.json": good + b"not json\n",
        "d=2024-01-02/notes.txt": b"ignored",
        "d=2024-01-03/x.json/inner": b"a folder named like a part",
        "d=2024-01-05/transactions.json": good.replace(b"01-02", b"01-05"),
        "d=2024-13-45/transactions.json": good,
        "d=2024-01-05x/transactions.json": good,
    }.items():
        (days / name).parent.mkdir(parents=True, exist_ok=True)
        (days / name).write_bytes(data)
    (days / "d=2024-01-04").write_bytes(b"an object where a folder belongs")
    return folder


def add_folder_markers(url: str, folders: list[str]) -> None:
    """The empty `folder/` objects that the AWS console's "Create folder" and other tools
    write: a folder's marker, not an object where the folder belongs."""
    root = storage.upath(url)
    bucket, _, prefix = root.path.partition("/")
    for folder in folders:
        key = f"{prefix}/{folder}/" if prefix else f"{folder}/"
        root.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=b"")


def test_the_day_listing_on_s3_follows_the_local_rules(s3_bucket: str, tmp_path: Path) -> None:
    local = odd_feed(tmp_path / "feed")
    remote = source_root(upload(local, f"{s3_bucket}/feed"))
    add_folder_markers(
        f"{s3_bucket}/feed",
        ["transactions", "transactions/d=2024-01-02", "transactions/d=2024-01-05"],
    )
    local_listing = find_day_files(Location.of(local), DAYS)
    remote_listing = find_day_files(remote, DAYS)
    assert [(f.day, f.source_file) for f in remote_listing.files] == [
        (f.day, f.source_file) for f in local_listing.files
    ]
    assert remote_listing.refused == local_listing.refused
    assert remote_listing.missing == local_listing.missing
    assert (
        remote_listing.ignored == local_listing.ignored == ["transactions/d=2024-01-02/notes.txt"]
    )
    assert weeks_with_data(remote) == weeks_with_data(Location.of(local))
    assert badly_named_day_folders(remote) == badly_named_day_folders(Location.of(local))

    connection = duckdb.connect()
    remote_parsed = parse_day_files(remote_listing.files, connection)
    local_parsed = parse_day_files(local_listing.files, connection)
    assert_frame_equal(remote_parsed.items, local_parsed.items)
    assert_frame_equal(remote_parsed.rejects, local_parsed.rejects)
    # Lines over a (lowered) length limit are quarantined alike from objects and files.
    remote_long = parse_day_files(remote_listing.files, connection, max_line_bytes=60)
    local_long = parse_day_files(local_listing.files, connection, max_line_bytes=60)
    assert_frame_equal(remote_long.rejects, local_long.rejects)
    assert remote_long.items.is_empty()
    assert remote_long.rejects.get_column("reason").str.contains("over the limit of 60").any()

    # A late or changed object changes the fingerprint.
    before = fingerprint(find_day_files(remote, DAYS))
    (remote.path / "transactions" / "d=2024-01-06" / "late.json").write_bytes(b"{}\n")
    assert fingerprint(find_day_files(remote, DAYS)) != before


@pytest.mark.parametrize("weeks", ["2024-01-08", ("2024-01-01", "2024-01-22")])
def test_sources_and_warehouse_on_s3_equal_the_local_run(
    s3_bucket: str, tmp_path: Path, weeks: str | tuple[str, str]
) -> None:
    purchases = upload(PURCHASES, f"{s3_bucket}/sources/purchases")
    signatures = upload(SIGNATURES, f"{s3_bucket}/sources/signatures")
    config = settings(f"{s3_bucket}/warehouse", tmp_path / "s3.db", purchases)
    config = config.__class__(**{**config.__dict__, "signatures_source_dir": signatures})
    config.check_locations()
    build(config, weeks)
    build(settings(str(tmp_path / "local"), tmp_path / "local.db"), weeks)
    assert_same_warehouse(tmp_path / "local", f"{s3_bucket}/warehouse")


def test_the_signature_sources_on_s3_read_like_the_local_ones(s3_bucket: str) -> None:
    remote = signature_source_root(upload(SIGNATURES, f"{s3_bucket}/signatures"))
    local_candidates, local_rejects = read_sources(signature_source_root(str(SIGNATURES)))
    candidates, rejects = read_sources(remote)
    assert rejects == local_rejects
    assert candidates
    # The same signees and signatures, each with the same content hash; only the images'
    # names for messages (`local_uri`) differ.
    assert [(c.signee, c.signature.origin) for c in candidates] == [
        (c.signee, c.signature.origin) for c in local_candidates
    ]


def test_an_unreachable_source_names_its_setting(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    endpoint = unreachable(monkeypatch)
    config = settings(str(tmp_path / "wh"), tmp_path / "s.db", f"{s3_bucket}/feed")
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as raised:
        config.check_locations()
    assert time.monotonic() - started < 10
    assert str(raised.value).startswith(
        f"PURCHASES_SOURCE_DIR ({s3_bucket}/feed) cannot be reached at {endpoint} ("
    )


LINE = b'{"customer_id": "C1", "date_of_purchase": "2024-01-02 10:00:00", "basket": []}'


def test_an_object_replaced_by_a_larger_one_after_the_listing_is_never_fetched_whole(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one request for an object the listing found within the line limit asks for no
    more than the limit and a byte: a far larger object put there meanwhile (one endless
    line) is streamed with its lines bounded, like any large object."""
    remote = storage.upath(f"{s3_bucket}/feed")
    day = DAYS[1]
    obj = remote / "transactions" / "d=2024-01-02" / "transactions.json"
    obj.write_bytes(LINE + b"\n")
    listing = find_day_files(Location.of(remote), [day])
    obj.write_bytes(LINE + b"\n" + b"x" * 5000 + b"\n" + LINE + b"\n")
    fetched: list[int] = []
    fs = storage.upath(str(listing.files[0].path)).fs  # the store's one filesystem
    cat_file = fs.cat_file

    def counted(path: str, *args: object, **kwargs: object) -> bytes:
        data: bytes = cat_file(path, *args, **kwargs)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(fs, "cat_file", counted)
    monkeypatch.setattr(fs, "cat", counted)
    read = read_day_file(listing.files[0], max_line_bytes=200)
    assert fetched
    assert all(size <= 201 for size in fetched)
    assert read.data == LINE + b"\n\n" + LINE + b"\n"
    assert [(line.line_number, line.length) for line in read.long_lines] == [(2, 5000)]


def test_an_object_whose_get_keeps_failing_stops_the_parse_naming_the_setting(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`503 SlowDown` after s3fs's own retries is an OSError that says nothing about the
    object: it is not quarantined as if the object were bad, the run stops."""
    remote = storage.upath(f"{s3_bucket}/feed")
    (remote / "transactions" / "d=2024-01-02" / "transactions.json").write_bytes(LINE + b"\n")
    listing = find_day_files(Location.of(remote), [DAYS[1]])

    def slow_down(*args: object, **kwargs: object) -> bytes:
        raise OSError(errno.EBUSY, "Please reduce your request rate. (SlowDown)")

    fs = storage.upath(str(listing.files[0].path)).fs  # the store's one filesystem
    for method in ("cat_file", "cat", "open"):
        monkeypatch.setattr(fs, method, slow_down)
    with pytest.raises(FeedReadError) as raised:
        parse_day_files(listing.files, duckdb.connect())
    assert str(raised.value) == (
        f"PURCHASES_SOURCE_DIR ({s3_bucket}/feed/transactions/d=2024-01-02/transactions.json) "
        "kept answering that it is busy (503 SlowDown, throttling) in 3 attempts with backoff "
        "([Errno 16] Please reduce your request rate. (SlowDown)): run again later, or raise "
        "AWS_MAX_ATTEMPTS."
    )
