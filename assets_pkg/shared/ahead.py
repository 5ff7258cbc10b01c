"""Computing the next items of a sequence while the caller works on the current one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    """`compute(key)` for each of `keys`, in their order, in `workers` worker threads that
    keep `ahead` keys ahead of the one asked for.

    A weekly step asks for one week, stores what Dagster records of it (events, a Parquet
    file) on its own thread, and meanwhile the workers compute the next weeks: polars and
    DuckDB release the GIL, so both cores work. Memory holds `ahead + 1` results at most, and
    `workers` computations at once.
    """

    def __init__(
        self,
        compute: Callable[[str], T],
        keys: Sequence[str],
        ahead: int = 1,
        name: str = "ahead",
        workers: int = 1,
    ) -> None:
        self.compute = compute
        self.keys = list(keys)
        self.ahead = ahead
        self.workers = workers
        self.pending: dict[str, Future[T]] = {}
        self.worker = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.worker.shutdown(wait=True, cancel_futures=True)

    def result(self, key: str) -> T:
        """`compute(key)`, and the next `ahead` keys submitted; raises what it raised."""
        index = self.keys.index(key)
        for upcoming in self.keys[index : index + 1 + self.ahead]:
            if upcoming not in self.pending:
                self.pending[upcoming] = self.worker.submit(self.compute, upcoming)
        return self.pending.pop(key).result()
