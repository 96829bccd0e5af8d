"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as top-N tables.

Each line of the input is ``frame;frame;...;leaf COUNT`` with frames like
``function (path/to/file.py:123)``. We report, as a share of all samples:

* self time per function (the leaf frame: where the CPU actually was),
* inclusive time per function (anywhere on the stack, counted once per sample),
* self time per *area*: ``tokenthrift.<subpackage>``, a third-party distribution, or
  ``stdlib.<module>``, which answers "where does the time go" in one glance,
* samples per thread (with ``py-spy record --threads``).

Without ``--native``, py-spy sees Python frames only: time in the event loop's C code
(uvloop/libuv: epoll, socket reads and writes, callbacks' glue) is charged to the Python
frame that entered it, ``Runner.run``.

Run: ``python benchmarks/pyspy_top.py profile.txt [--top 25]``.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")


@dataclass
class Profile:
    samples: int = 0
    self_time: collections.Counter[str] = field(default_factory=collections.Counter)
    inclusive: collections.Counter[str] = field(default_factory=collections.Counter)
    areas: collections.Counter[str] = field(default_factory=collections.Counter)
    threads: collections.Counter[str] = field(default_factory=collections.Counter)


def function_name(frame: str) -> str:
    """``function (file.py)`` without the line number, with a short path."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip() or "<native>"
    return f"{match['function']} ({_short_path(match['path'])})"


def area(frame: str) -> str:
    match = FRAME.match(frame.strip())
    path = match["path"] if match else ""
    parts = Path(path).parts
    if "tokenthrift" in parts[:-1]:  # the package directory, not the bin/tokenthrift script
        rest = parts[parts.index("tokenthrift") + 1 :]
        return "tokenthrift." + rest[0].removesuffix(".py")
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else "site-packages"
    for index, part in enumerate(parts):
        if re.fullmatch(r"python3\.\d+", part) and index + 1 < len(parts):
            return "stdlib." + parts[index + 1].removesuffix(".py")
    return path or "<native>"


def _short_path(path: str) -> str:
    parts = Path(path).parts
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    for index, part in enumerate(parts):
        if re.fullmatch(r"python3\.\d+", part):
            return "/".join(parts[index + 1 :])
    return path


def parse(lines: Iterable[str]) -> Profile:
    profile = Profile()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, frames = _split_context(stack.split(";"))
        if not frames:
            continue
        profile.samples += count
        profile.threads[thread] += count
        profile.self_time[function_name(frames[-1])] += count
        profile.areas[area(frames[-1])] += count
        for name in {function_name(frame) for frame in frames if _is_ours(frame)}:
            profile.inclusive[name] += count
    return profile


def _split_context(frames: list[str]) -> tuple[str, list[str]]:
    """Drop py-spy's ``process ...`` and ``thread (...)`` pseudo-frames; the thread name."""
    thread, code = "all threads", []
    for frame in frames:
        if frame.startswith("thread ("):
            thread = frame.partition("): ")[2] or frame
        elif not frame.startswith("process "):
            code.append(frame)
    return thread, code


def _is_ours(frame: str) -> bool:
    """tokenthrift's own request-path code (not its command-line entry point)."""
    return area(frame).startswith("tokenthrift.") and area(frame) != "tokenthrift.cli"


def _table(title: str, counter: collections.Counter[str], total: int, top: int) -> list[str]:
    lines = [f"| {title} | share of samples |", "|---|---:|"]
    for name, count in counter.most_common(top):
        lines.append(f"| `{name}` | {100.0 * count / max(total, 1):.1f}% |")
    return lines


def render(profile: Profile, top: int = 20) -> str:
    sections = [
        f"{profile.samples} samples (active threads only)",
        "",
        *_table("area (self time)", profile.areas, profile.samples, top),
        "",
        *_table("function (self time)", profile.self_time, profile.samples, top),
        "",
        *_table("tokenthrift function (inclusive)", profile.inclusive, profile.samples, top),
        "",
        *_table("thread", profile.threads, profile.samples, top),
    ]
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    with args.profile.open() as lines:
        print(render(parse(lines), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
