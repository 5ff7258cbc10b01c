"""The local instance's event log: Dagster's SQLite one, cheaper per event.

instance/dagster.yaml names `LocalEventLogStorage` as the instance's `event_log_storage`, so
every process that opens the instance gets it: `dagster asset materialize`, `dg launch`,
the web UI and the daemon of `dg dev`, the code server and the runs it launches. Runs and
schedules keep Dagster's own SQLite storages. The files are Dagster's, where Dagster puts
them (`$DAGSTER_HOME/history/runs/`: `index.db` and one `<run id>.db` per run), so an
existing instance keeps its history and Dagster's `SqliteEventLogStorage` can open them
again. Two things differ (docs/decisions.md, "The local instance's event log"):

- **A range run announces each asset once.** Before a run starts, Dagster stores an "asset
  materialization planned" event per asset and per partition, unless the event log storage
  says it takes the partitions in one event (Dagster's own switch,
  `supports_partition_subset_in_asset_materialization_planned_events`). This one says so:
  a 104-week backfill stores 3 planned events instead of 312. The price, as Dagster
  documents it: when such a run fails, its weeks show as missing in the web UI, not failed.

- **Each database keeps one open connection, with `synchronous=NORMAL`.** Dagster opens a
  new SQLAlchemy engine and a new connection for every event (two for an asset event: the
  run's database and `index.db`), and closing the last connection to a database makes
  SQLite write its write-ahead log back into the database and flush both to disk. Here a
  process keeps one connection per database open (`index.db` and the last few runs'
  databases), so storing an event is appending a commit to the log; with `synchronous=NORMAL`
  a commit is not flushed to disk either. In WAL mode (Dagster's, enforced here) that keeps
  the database consistent: a killed process loses nothing (its commits are in the log
  file), and a power loss or an operating-system crash may lose the last commits since the
  log was last written back, never corrupt the database. The log is written back when it
  reaches 1,000 pages and when the last connection closes (the process disposes of the
  instance); a process killed first leaves `<database>-wal` beside its database, and the
  next connection to open it writes it back. Dagster's check whether a table exists, made
  before every asset event and check evaluation with a connection of its own, is answered
  once per table.

Because the commits land in `<run id>.db-wal` rather than `<run id>.db`, the live view of a
run's events (`instance.watch_event_logs`, which the web UI's run page uses) watches both
files: Dagster's watcher looks at the database file alone. Wiping the instance closes the
connections before Dagster deletes the files, and a forked child drops its parent's.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as db
from dagster import DagsterInstance, Field, StringSource
from dagster._core.event_api import EventHandlerFn
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
"""Run on every connection the storage opens (see the module)."""

OPEN_RUN_DATABASES = 8
"""How many runs' databases a process keeps a connection to besides index.db: a run
writes to one; the web UI reads the runs it shows."""

_LIVE: weakref.WeakSet[LocalEventLogStorage] = weakref.WeakSet()
"""Every storage of this process, for the child of a fork (see `_forget_after_fork`)."""


class LocalEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one open connection per database (see the module).

    `base_dir` is optional: without it the events live in the instance's own folder,
    `<instance root>/history/runs/`, where Dagster keeps them by default, known once the
    instance registers itself; so the one instance/dagster.yaml serves any DAGSTER_HOME.
    """

    def __init__(
        self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None
    ) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()
        _LIVE.add(self)
        self._waiting_for_instance = base_dir is None
        if base_dir is not None:
            super().__init__(base_dir, inst_data=inst_data)
        else:
            # Dagster's own setup runs in register_instance, once the folder is known.
            self._inst_data = inst_data
            self._instance_weakref = None
            self._obs = None
            self._db_lock = threading.Lock()

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]  # Dagster types it with its own config
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, str]
    ) -> LocalEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def register_instance(self, instance: DagsterInstance) -> None:
        if self._waiting_for_instance:
            base_dir = Path(instance.root_directory) / "history" / "runs"
            super().__init__(str(base_dir), inst_data=self._inst_data)
            self._waiting_for_instance = False
        super().register_instance(instance)

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before storing every asset event and every check evaluation, each
        # time through a new engine and connection. A table, once there, stays: a yes is
        # kept. (Not through the kept connection: Dagster asks while it holds it.)
        if table_name not in self._tables:
            if not super().has_table(table_name):
                return False
            self._tables.add(table_name)
        return True

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = db.create_engine(
            self.conn_string_for_shard(shard),
            # One connection kept (a second one only while Dagster creates a database's
            # tables); used by one thread at a time, under the storage's lock.
            pool_size=1,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        db.event.listen(engine, "connect", _set_pragmas)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in runs[: max(0, len(runs) - OPEN_RUN_DATABASES)]:
            self._engines.pop(name).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's, with the engine kept instead of made and disposed of each time.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def close_connections(self) -> None:
        """Closes every open connection; the next use opens them again."""
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def dispose(self) -> None:
        super().dispose()  # first: the live views' thread reads through the connections
        self.close_connections()

    def wipe(self) -> None:
        # Dagster deletes the runs' database files: no connection may hold them open.
        self.close_connections()
        self._tables.clear()
        super().wipe()

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        # Dagster's, with a watcher that also sees the commits in the write-ahead log.
        observer: Any = self._obs  # Dagster types it as None until the first watch
        if observer is None:
            from watchdog.observers import Observer

            observer = Observer()
            observer.start()
            self._obs = observer
        watcher = _RunWatcher(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watcher,
            observer.schedule(watcher, self._base_dir, recursive=True),
        )


class _RunWatcher(SqliteEventLogStorageWatchdog):
    """Reads a run's new events whenever its database or its write-ahead log changes."""

    def __init__(
        self,
        storage: SqliteEventLogStorage,
        run_id: str,
        callback: EventHandlerFn,
        cursor: str | None,
    ) -> None:
        super().__init__(storage, run_id, callback, cursor)
        self._paths = {self._log_path, f"{self._log_path}-wal"}

    def dispatch(self, event: Any) -> None:
        if event.event_type == "modified" and os.fsdecode(event.src_path) in self._paths:
            self._process_log()


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    for pragma in PRAGMAS:
        dbapi_connection.execute(pragma)


def _forget_after_fork() -> None:
    """A forked child must not use its parent's SQLite connections (SQLite's rule): it drops
    them unclosed, and opens its own."""
    for storage in list(_LIVE):
        for engine in storage._engines.values():
            engine.dispose(close=False)
        storage._engines.clear()
        storage._db_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
