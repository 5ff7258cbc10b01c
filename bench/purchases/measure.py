"""Running one command to its end and measuring it: wall time, peak memory and CPU time.

``measure`` starts the command as a child process in the repository, under GNU
``/usr/bin/time`` when present, and while it runs a ``TreeSampler`` thread sums the resident
set size (RSS, from ``/proc/<pid>/statm``) over the child and all its descendants every
0.05 s. The result is a ``Measurement``: wall time from start to exit, the largest sampled sum
(never below the largest single process's max RSS, which sampling can miss), that max RSS,
the CPU seconds (user plus system, from ``wait4``'s resource usage, which counts every
process the command waited for), and, when the command fails, the exception lines of its log.

RSS, not the proportional set size (PSS): the kernel keeps RSS as counters, while reading a
process's PSS (``/proc/<pid>/smaps_rollup``) walks the page tables of all its memory, which
sampled twenty times a second slowed the runs it measured (the figures are in
bench/README.md, "Why RSS and not PSS"). A tree's RSS counts a page two processes
share twice, so its sum is never below the memory the tree holds. PSS is still read, four
times a second, where processes share most of their pages: the Celery workers and their
forked pools of the scale-out part (``TreeSampler(pid, 0.25, proportional=True)``).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.purchases import ROOT

GNU_TIME = Path("/usr/bin/time")


@dataclass
class Measurement:
    """One implementation in one repeat."""

    wall_s: float = 0.0
    peak_mib: float = 0.0
    max_process_mib: float = 0.0
    compute_s: float | None = None
    cpu_s: float | None = None
    """User plus system CPU seconds of the command and every process it waited for."""
    steps: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def add(self, other: Measurement) -> None:
        """Another command of the same implementation, run after this one."""
        self.wall_s += other.wall_s
        self.peak_mib = max(self.peak_mib, other.peak_mib)
        self.max_process_mib = max(self.max_process_mib, other.max_process_mib)
        if other.cpu_s is not None:
            self.cpu_s = (self.cpu_s or 0.0) + other.cpu_s
        if other.compute_s is not None:
            self.compute_s = (self.compute_s or 0.0) + other.compute_s
        self.steps.update(other.steps)
        self.error = self.error or other.error


def _tree(root: int) -> list[int]:
    pids = [root]
    index = 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text()
            except OSError:
                continue
            pids.extend(int(child) for child in children.split())
    return pids


def _resident_kib(pid: int) -> int:
    """Resident set size, from the kernel's counters (no walk of the process's memory); 0 once
    the process has gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _proportional_kib(pid: int) -> int:
    """Proportional set size (shared pages split between their users), which walks the page
    tables of all the process's memory; RSS if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return _resident_kib(pid)


class TreeSampler(threading.Thread):
    """Samples the memory of a process and all its descendants until stopped: RSS, or PSS
    when `proportional` (costly for a large process: see the module's docstring)."""

    def __init__(self, pid: int, interval: float = 0.05, *, proportional: bool = False) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.memory_kib = _proportional_kib if proportional else _resident_kib
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(self.memory_kib(pid) for pid in _tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def measure(
    command: Sequence[str], env: Mapping[str, str], log: Path, say: Callable[[str], None]
) -> Measurement:
    """Run `command` to its end; wall time and peak memory of its whole process tree.

    The command runs under GNU time when present: its max RSS is then the command's own (a
    child forked straight from this bench would inherit the bench's RSS high-water mark).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = [word if "\n" not in word else "'<runner>'" for word in command]
    say(f"  $ {' '.join(shown)}")
    rusage_file = log.with_suffix(".maxrss")
    wrapped = list(command)
    if GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rusage_file), *command]
    os.sync()  # the previous command's writes are not flushed on this one's time
    with log.open("wb") as output:
        began = time.perf_counter()
        process = subprocess.Popen(
            wrapped, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
    max_rss_kib = usage.ru_maxrss
    if GNU_TIME.exists():
        with contextlib.suppress(OSError, ValueError, IndexError):
            max_rss_kib = int(rusage_file.read_text().split()[-1])
    # Sampling can miss a short spike: the peak is never below the largest single process.
    result = Measurement(
        wall_s=wall,
        peak_mib=max(sampler.peak_kib, max_rss_kib) / 1024,
        max_process_mib=max_rss_kib / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )
    if process.returncode != 0:
        result.error = f"exit status {process.returncode}, log {log}:\n    " + "\n    ".join(
            error_lines(log.read_text(errors="replace"))
        )
    say(f"    {wall:.1f} s, peak {result.peak_mib:.0f} MiB" + (" FAILED" if result.error else ""))
    return result


def error_lines(log: str, limit: int = 4) -> list[str]:
    """The distinct exception lines of a log (``SomeError: message``), else its last lines."""
    found = [line for line in log.splitlines() if re.match(r"[\w.]*(Error|Exception)\b", line)]
    distinct = list(dict.fromkeys(line[:300] for line in found))
    return distinct[:limit] if distinct else log.strip().splitlines()[-10:]
