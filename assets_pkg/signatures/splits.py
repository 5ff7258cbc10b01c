"""Writer-disjoint, seeded, stable dev / eval splits, and the version of a dataset.

A signature's **split group** is the genuine signer it belongs to or imitates: a genuine
signature's own signee, a forgery's reference signee (followed up a SOURCE_B chain of
forgeries of forgeries to its first genuine signature). It is spelt as the signee's key
(`SOURCE_A/Online/Genuine/001`), which the source names even before the reference is
registered, so a forgery whose reference arrives later keeps its split.

The split of a group is a pure function of (seed, group): the first 8 bytes of
SHA-256(`<seed>:<group>`) as a number in [0, 1) below `dev_ratio` is `dev`, else `eval`.
Nothing is stored, so nothing can drift: a group keeps its split as data arrives, on any
machine and in any database (the ids the database hands out play no part). The price is that
the ratio holds on average (over many signees), not exactly on a handful.

Pure Python: nothing here touches files, databases or Dagster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Split = Literal["dev", "eval"]
SPLITS: tuple[Split, ...] = ("dev", "eval")

DEFAULT_SEED = 0
DEFAULT_DEV_RATIO = 0.7
TRIALS_FORMAT = 1
"""Bumped whenever the rules that derive the trials change: part of `dataset_version`."""


@dataclass(frozen=True)
class SplitSpec:
    """The split's seed and the share of split groups that go to `dev`."""

    seed: int = DEFAULT_SEED
    dev_ratio: float = DEFAULT_DEV_RATIO

    def __post_init__(self) -> None:
        if not 0.0 <= self.dev_ratio <= 1.0:
            raise ValueError(
                f"dev_ratio (signature_datasets) must lie between 0 and 1, got {self.dev_ratio}"
            )
        if self.seed < 0:
            raise ValueError(f"seed (signature_datasets) must be 0 or more, got {self.seed}")

    def split_of(self, group: str) -> Split:
        digest = hashlib.sha256(f"{self.seed}:{group}".encode()).digest()
        return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < self.dev_ratio else "eval"

    def label(self) -> str:
        return f"seed={self.seed};dev_ratio={self.dev_ratio!r};trials={TRIALS_FORMAT}"


def split_groups(
    own: Mapping[str, str], parent: Mapping[str, str | None], is_forgery: Mapping[str, bool]
) -> dict[str, str]:
    """Signature key -> its split group.

    `own[k]` is the label of the signee signature k is meant to be by: its own signee for a
    genuine signature, the reference signee as the source names it for a forgery. `parent[k]`
    is the key of the signature a forgery imitates when the source names one (SOURCE_B), else
    None. A chain of forgeries is followed to its first genuine signature; a chain that loops
    or leaves the known signatures stops at its last known member, whose reference decides."""
    groups: dict[str, str] = {}
    for key in own:
        seen: set[str] = set()
        current = key
        while (
            is_forgery.get(current, False)
            and (up := parent.get(current)) is not None
            and up in own
            and up not in seen
        ):
            seen.add(current)
            current = up
        groups[key] = own[current]
    return groups


def dataset_version(rows: Iterable[tuple[str, ...]], spec: SplitSpec) -> str:
    """SHA-256 over the sorted rows (each a tuple of strings: a signature's source, path,
    content hash, label, reference and split) and the split's parameters: identical for
    identical content, whatever the order of the rows or the ids the database gave them."""
    digest = hashlib.sha256(spec.label().encode())
    for row in sorted(rows):
        digest.update(b"\x1e" + "\x1f".join(row).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
