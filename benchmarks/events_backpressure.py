"""Measure how much a stuck event subscriber slows k2w's workers.

Run from the repository root::

    python benchmarks/events_backpressure.py           # about 35 seconds on 2 cores
    python benchmarks/events_backpressure.py --quick

Each run opens a fresh app on a new database file and times one piece of work twice
over: with no subscriber, and with two subscribers, one async callback that never
returns (``await anyio.Event().wait()``) and one sync callback that counts events.
The two variants alternate, so that drift of the machine hits both alike, and the
medians are compared. The work is either 1,000 no-op jobs on one queue (concurrency
50) or a pipeline run of the seven stages over 50 keywords with the offline providers.

The event bus documents that publishing never blocks. The slowdown printed here is
what a subscriber that stops reading still costs the workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.metadata
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio

import k2w
from k2w._store._records import EventRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import OtherCpu, source_fingerprint

QUEUE = "bench"
TIMEOUT_S = 600.0


@dataclasses.dataclass
class Subscribers:
    """The two subscribers of the loaded variant, and what they saw."""

    stuck: k2w.Subscription
    counting: k2w.Subscription
    counted: int = 0


def attach_subscribers(app: k2w.K2W) -> Subscribers:
    """Subscribe a callback that never returns and a sync one that counts events."""

    async def stuck(event: k2w.Event) -> None:
        await anyio.Event().wait()

    def count(event: k2w.Event) -> None:
        subscribers.counted += 1

    subscribers = Subscribers(
        stuck=app.events.subscribe(stuck), counting=app.events.subscribe(count)
    )
    return subscribers


Work = Callable[[k2w.K2W, int], Awaitable[None]]


async def timed_run(directory: Path, work: Work, size: int, loaded: bool) -> dict[str, float]:
    """Open a fresh app, optionally attach the subscribers, and time ``work``."""
    config = k2w.K2WConfig(out_dir=directory / "out")
    async with k2w.K2W.open(directory / "k2w.db", config=config) as app:
        subscribers = attach_subscribers(app) if loaded else None
        started = time.perf_counter()
        with anyio.fail_after(TIMEOUT_S):
            await work(app, size)
        elapsed = time.perf_counter() - started
        events = await app.events.last_seq()
        # Let the counting subscriber catch up before its tally is read.
        await anyio.sleep(0.05)
    result = {"seconds": elapsed, "events": float(events)}
    if subscribers is not None:
        result["stuck_dropped"] = float(subscribers.stuck.dropped)
        result["stuck_coalesced"] = float(subscribers.stuck.coalesced)
        result["counting_received"] = float(subscribers.counted)
        result["counting_dropped"] = float(subscribers.counting.dropped)
    return result


async def noop_jobs(app: k2w.K2W, jobs: int) -> None:
    """Run ``jobs`` no-op jobs on one queue and return when the last one completed."""
    queue = app.queue(QUEUE, k2w.QueueSettings(concurrency=50))

    @queue.handler("noop")
    async def noop(job: k2w.Job) -> None:
        return None

    # A bus listener, not a subscriber, signals that all jobs completed, so both variants
    # pay the same for detecting the end. add_listener is meant for k2w's own layers, and
    # it runs synchronously in the commit path, so it must stay this cheap.
    all_completed = anyio.Event()
    completed = 0

    def on_commit(records: list[EventRecord]) -> None:
        nonlocal completed
        completed += sum(1 for record in records if record.type == "job:completed")
        if completed >= jobs:
            all_completed.set()

    app.events.add_listener(on_commit)
    await queue.add_bulk([{"name": "noop", "payload": i} for i in range(jobs)])
    await all_completed.wait()
    counts = await queue.counts()
    if counts["completed"] != jobs:
        raise RuntimeError(f"expected {jobs} completed jobs, the queue counts {counts}")


async def pipeline_run(app: k2w.K2W, keywords: int) -> None:
    """Run the seven stages over ``keywords`` keywords in English and Vietnamese."""
    run = await app.submit(
        [f"benchmark keyword number {i}" for i in range(keywords)], languages=["en", "vi"]
    )
    result = await run.wait(timeout=TIMEOUT_S)
    if not result.ok:
        raise RuntimeError(f"pipeline run {run.id} ended {result.status}: {result.error}")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The runs of one piece of work without and with the subscribers."""

    plain: list[dict[str, float]]
    loaded: list[dict[str, float]]

    @staticmethod
    def seconds(runs: list[dict[str, float]]) -> list[float]:
        return [run["seconds"] for run in runs]

    @property
    def slowdown_percent(self) -> float:
        """The slowdown of the loaded median over the unloaded median, in percent."""
        plain_s = statistics.median(self.seconds(self.plain))
        return (statistics.median(self.seconds(self.loaded)) / plain_s - 1) * 100

    @property
    def paired_slowdown_percent(self) -> float:
        """The median slowdown of each loaded run over the unloaded run just before it.

        Paired runs are seconds apart, so a slow spell of the machine mostly cancels out.
        """
        ratios = [
            loaded["seconds"] / plain["seconds"]
            for plain, loaded in zip(self.plain, self.loaded, strict=True)
        ]
        return (statistics.median(ratios) - 1) * 100


def compare(work: Work, size: int, repeat: int, tmp_dir: Path) -> Comparison:
    """Alternate unloaded and loaded runs ``repeat`` times after one warm-up of each."""
    comparison = Comparison(plain=[], loaded=[])
    for index in range(repeat + 1):
        for with_subscribers, runs in ((False, comparison.plain), (True, comparison.loaded)):
            with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="k2w-bench-") as name:
                gc.collect()
                result = anyio.run(
                    timed_run, Path(name), work, size, with_subscribers, backend="asyncio"
                )
            if index > 0:
                runs.append(result)
    return comparison


def report(title: str, comparison: Comparison) -> None:
    print()
    print(title)
    print("-" * len(title))
    for label, runs in (
        ("no subscriber", comparison.plain),
        ("stuck async + counting sync", comparison.loaded),
    ):
        seconds = Comparison.seconds(runs)
        print(
            f"{label:<28}  {statistics.median(seconds) * 1000:8.1f} ms median "
            f"({min(seconds) * 1000:.1f}–{max(seconds) * 1000:.1f})"
        )
    print(f"{'slowdown of the medians':<28}  {comparison.slowdown_percent:+8.1f} %")
    print(f"{'median slowdown per pair':<28}  {comparison.paired_slowdown_percent:+8.1f} %")
    last = comparison.loaded[-1]
    print(
        f"last loaded run: {last['events']:.0f} events committed; the stuck subscriber "
        f"dropped {last['stuck_dropped']:.0f} and coalesced {last['stuck_coalesced']:.0f}; "
        f"the counting one received {last['counting_received']:.0f} "
        f"and dropped {last['counting_dropped']:.0f}"
    )


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=Path("/tmp"),
        help="directory for the database files; use a disk, not tmpfs (default /tmp)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    arguments = parse_arguments(argv)
    repeat = 2 if arguments.quick else 9
    print(f"date: {datetime.date.today().isoformat()}")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"k2w {importlib.metadata.version('k2w')}"
    )
    print(f"k2w source: {source_fingerprint()}")
    print(f"each variant: median of {repeat} runs after one warm-up run")
    other_cpu = OtherCpu()

    report("1,000 no-op jobs, concurrency 50", compare(noop_jobs, 1000, repeat, arguments.tmp_dir))
    report(
        "pipeline run, 50 keywords, 2 languages, offline providers",
        compare(pipeline_run, 50, repeat, arguments.tmp_dir),
    )
    print()
    print(f"other processes used {other_cpu.describe()}")


if __name__ == "__main__":
    main(sys.argv[1:])
