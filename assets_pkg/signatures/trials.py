"""Comparison lists (trials) per split, as DeepSignDB publishes them: 1vs1 and 4vs1.

For each signee with genuine signatures, in its split and medium (`online` point files,
`offline` images):

- **enrolment**: its first k genuine signatures in file order (k = 1 for `1vs1`, 4 for
  `4vs1`);
- **probes**: each of its other genuine signatures (`genuine`), each forgery that imitates it
  (`skilled_forgery`), and RANDOM_FORGERIES genuine signatures of other signees of the same
  medium and split (`random_forgery`), drawn with a generator seeded by the split's seed and
  the signee, the same draws for both protocols.

A protocol applies where a signee has at least k + 1 genuine signatures, so that every list has
a genuine probe: `1vs1` needs 2, `4vs1` needs 5. A signee with fewer has no trials in that
protocol (its signatures still serve as random forgeries for others, and its forgeries are not
probed). Every id a trial names lies in the trial's own split.

Pure Python and polars: nothing here touches files, databases or Dagster.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Literal

import polars as pl

Protocol = Literal["1vs1", "4vs1"]
PROTOCOLS: dict[Protocol, int] = {"1vs1": 1, "4vs1": 4}
"""Each protocol and its number of enrolment signatures."""

RANDOM_FORGERIES = 10
"""Random-forgery probes per signee and protocol (fewer when the split has fewer others)."""

TRIALS_SCHEMA: dict[str, pl.DataType] = {
    "split": pl.String(),
    "protocol": pl.String(),
    "medium": pl.String(),
    "signee_id": pl.String(),
    "enrolment_ids": pl.List(pl.String()),
    "probe_id": pl.String(),
    "label": pl.String(),
    "dataset_version": pl.String(),
}
"""The columns of `signature_trials`, in order."""

DESCRIPTIONS = {
    "split": "dev or eval: every id of the trial lies in this split.",
    "protocol": "1vs1 (one enrolment signature) or 4vs1 (four).",
    "medium": "online (xyz points) or offline (images).",
    "signee_id": "The claimed signee: whose genuine signatures are enrolled.",
    "enrolment_ids": "The enrolled signatures (signature ids of signature_dataset), in file order.",
    "probe_id": "The signature compared with the enrolment.",
    "label": "genuine, skilled_forgery (imitates the signee) or random_forgery (a genuine "
    "signature of another signee of the same medium and split).",
    "dataset_version": "The version of signature_dataset the trials were drawn from.",
}
"""What each column of `signature_trials` means, shown in the web UI."""

NEEDED = (
    "signature_id",
    "signee_id",
    "signee_key",
    "split",
    "medium",
    "label",
    "reference_signee_id",
)


def build_trials(dataset: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The trials of `dataset` (a `signature_dataset` frame, in its row order: file order)."""
    genuine: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    """(split, medium, signee) -> genuine signature ids, in file order."""
    forged: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    """(split, medium, imitated signee) -> forgery ids, in file order."""
    pool: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    """(split, medium) -> every genuine (signee, signature id), in file order."""
    keys: dict[str, str] = {}
    """Signee id -> its key (`SOURCE_A/Online/Genuine/001`): what seeds its draws, so that
    the same content draws the same signatures in any database."""
    for signature_id, signee_id, key, split, medium, label, reference in dataset.select(
        NEEDED
    ).iter_rows():
        keys[signee_id] = key
        if label == "genuine":
            genuine[(split, medium, signee_id)].append(signature_id)
            pool[(split, medium)].append((signee_id, signature_id))
        elif reference is not None:
            forged[(split, medium, reference)].append(signature_id)
    version = dataset["dataset_version"][0] if dataset.height else None
    rows: list[tuple[str, str, str, str, list[str], str, str, str | None]] = []
    for (split, medium, signee), own in genuine.items():  # signees in file order
        randoms = _random_forgeries(pool[(split, medium)], signee, keys[signee], seed)
        skilled = forged.get((split, medium, signee), [])
        for protocol, k in PROTOCOLS.items():
            if len(own) < k + 1:
                continue
            enrolment = own[:k]
            probes = [(p, "genuine") for p in own[k:]]
            probes += [(p, "skilled_forgery") for p in skilled]
            probes += [(p, "random_forgery") for p in randoms]
            rows += [
                (split, protocol, medium, signee, enrolment, p, lab, version) for p, lab in probes
            ]
    frame = pl.DataFrame(rows, schema=TRIALS_SCHEMA, orient="row")
    return frame.sort("split", "protocol", maintain_order=True)


def _random_forgeries(
    pool: list[tuple[str, str]], signee: str, signee_key: str, seed: int
) -> list[str]:
    """Up to RANDOM_FORGERIES genuine signatures of other signees from `pool`, drawn without
    replacement by a generator seeded with (seed, the signee's key), kept in file order."""
    others = [signature for owner, signature in pool if owner != signee]
    if len(others) <= RANDOM_FORGERIES:
        return others
    # numpy only here: imported when trials are drawn, not by every process that loads the
    # definitions (0.2 s of each `dagster` command, a purchases week's included).
    import numpy as np

    key = int.from_bytes(hashlib.sha256(f"{seed}:{signee_key}".encode()).digest()[:8], "big")
    chosen = np.random.default_rng([seed, key]).choice(len(others), RANDOM_FORGERIES, False)
    return [others[i] for i in sorted(chosen.tolist())]
