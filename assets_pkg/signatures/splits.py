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


def check_seed(seed: int, setting: str = "seed (signature_datasets)") -> int:
    """The seed's rule, for `SplitSpec` and the resource's run config alike: a ValueError,
    one sentence naming `setting`, for a negative seed (plain Python: the settings' own
    ConfigurationError lives in a module that imports Dagster)."""
    if isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{setting} must be 0 or more, got {seed}.")
    return seed


def check_dev_ratio(dev_ratio: float, setting: str = "dev_ratio (signature_datasets)") -> float:
    """The ratio's rule: a number from 0 to 1 (NaN and infinities are not)."""
    if not 0.0 <= dev_ratio <= 1.0:
        raise ValueError(f"{setting} must lie between 0 and 1, got {dev_ratio}.")
    return dev_ratio


@dataclass(frozen=True)
class SplitSpec:
    """The split's seed and the share of split groups that go to `dev`."""

    seed: int = DEFAULT_SEED
    dev_ratio: float = DEFAULT_DEV_RATIO

    def __post_init__(self) -> None:
        check_dev_ratio(self.dev_ratio)
        check_seed(self.seed)

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
    None. A chain of forgeries is followed to its first genuine signature; a chain that leaves
    the known signatures stops at its last known member, whose reference decides. A loop of
    forgeries (INDEX can leave one in the database across runs: a parent's line dropped after
    it was registered, then the parent made a forgery of its child) has no genuine end: every
    member of the loop, and every chain leading into it, takes the smallest reference among
    the loop's members, so that a forgery and the signee it imitates never part. Linear in
    the number of signatures, whatever the chains' lengths."""

    def up(key: str) -> str | None:
        named = parent.get(key) if is_forgery.get(key, False) else None
        return named if named is not None and named in own else None

    groups: dict[str, str] = {}
    for start in own:
        path: list[str] = []
        on_path: dict[str, int] = {}
        current: str | None = start
        while current is not None and current not in groups:
            if current in on_path:  # a loop: path[on_path[current]:] is its members
                loop = path[on_path[current] :]
                label = min(own[member] for member in loop)
                groups.update(dict.fromkeys(loop, label))
                break
            on_path[current] = len(path)
            path.append(current)
            following = up(current)
            if following is None:
                groups[current] = own[current]
            current = following
        for member in reversed(path):  # each one's successor is grouped by now
            if member not in groups:
                following = up(member)
                assert following is not None
                groups[member] = groups[following]
    return groups


def dataset_version(rows: Iterable[tuple[str, ...]], spec: SplitSpec) -> str:
    """SHA-256 over the sorted rows (each a tuple of strings: a signature's source, path,
    content hash, label, reference and split) and the split's parameters: identical for
    identical content, whatever the order of the rows or the ids the database gave them."""
    digest = hashlib.sha256(spec.label().encode())
    for row in sorted(rows):
        digest.update(b"\x1e" + "\x1f".join(row).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
