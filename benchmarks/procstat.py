"""CPU time and memory of a process tree, read from Linux ``/proc``.

``/proc/PID/stat`` utime+stime cover every thread of a process; descendants (worker
processes a server may fork) are found by their parent id and added, so a gateway's CPU
is counted whatever its process model. Reaped children show up in cutime/cstime.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    """Fields after the ``(comm)`` of /proc/PID/stat; index 0 is the state (field 3)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses; it ends at the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid``'s tree (all threads, live and reaped children)."""
    ticks = 0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields is not None:
            # utime, stime, cutime, cstime are stat fields 14-17.
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def busy_cores(interval: float = 1.0) -> float:
    """How many cores' worth of CPU the whole machine is using, over ``interval``."""
    before = machine_busy_seconds()
    time.sleep(interval)
    return (machine_busy_seconds() - before) / interval


def rss_kb(pids: list[int]) -> int:
    """Current resident set size summed over ``pids``, in KiB (from /proc/PID/statm)."""
    total = 0
    for member in pids:
        try:
            resident = Path(f"/proc/{member}/statm").read_text().split()[1]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += int(resident) * PAGE_KB
    return total


def peak_rss_kb(pid: int) -> int:
    """Lifetime peak RSS (VmHWM) summed over ``pid``'s live tree, in KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total
