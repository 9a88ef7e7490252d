"""Measure k2w's durable job queue next to Huey's SQLite storage and plain sqlite3.

Run from the repository root, with k2w and huey installed::

    python benchmarks/queue_throughput.py           # about 2 minutes on 2 cores
    python benchmarks/queue_throughput.py --quick   # a smoke run of about 15 seconds

Measured, each on a fresh database file in WAL mode in a temporary directory (on
disk: pass ``--tmp-dir`` to move it, and avoid a RAM file system such as tmpfs):

1. k2w end to end: add N no-op jobs in one ``add_bulk`` transaction, claim, run,
   complete, with every state change persisted as an event. The rate runs from the
   first add to the last ``job:completed`` event, and the run is rejected unless the
   queue then counts N completed jobs.
2. Huey's storage floor: ``huey.storage.SqliteStorage`` enqueue N, then dequeue N, in
   one process, with no Huey consumer or worker around it.
3. Plain sqlite3: the three state changes of each job (insert, set active, set
   completed) with one commit each, and grouped into commits of 1,000 changes.
4. Enqueue-to-start latency: one job at a time added to an idle queue, from before
   ``queue.add`` to the handler's first line.
5. The cost of claiming one job with 1,000 and with 1,000,000 waiting jobs, and the
   peak RSS of a process that opens such a database and claims from it.

The last line reads ``k2w/huey-storage: N.N×``: k2w's end-to-end rate divided by
Huey's storage rate, with Huey as it ships (``SqliteStorage`` leaves SQLite's default,
``PRAGMA synchronous = FULL``) and k2w at the same setting, so that both pay for the
same durability. The line above it gives the same ratio with both at ``NORMAL`` (k2w's
default), where Huey's storage measured about five times faster on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import faulthandler
import gc
import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from huey.registry import Message
from huey.storage import SqliteStorage

import k2w

QUEUE = "bench"
FILL_CHUNK = 50_000
TIMEOUT_S = 600.0
# A child that takes longer prints every thread's stack to stderr and exits, so that a
# hang shows where it sits instead of stalling the whole run.
CHILD_TIMEOUT_S = 400.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of the measurements in one run."""

    jobs: int
    repeat: int
    latency_samples: int
    claim_samples: int
    backlogs: tuple[int, int]
    tmp_dir: Path


@dataclasses.dataclass(frozen=True)
class Rate:
    """Jobs per second over several runs of the same measurement."""

    jobs: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return self.jobs / statistics.median(self.seconds)

    @property
    def low(self) -> float:
        return self.jobs / max(self.seconds)

    @property
    def high(self) -> float:
        return self.jobs / min(self.seconds)


@contextmanager
def fresh_directory(plan: Plan) -> Iterator[Path]:
    """Yield an empty temporary directory under ``plan.tmp_dir``, removed afterwards."""
    with tempfile.TemporaryDirectory(dir=plan.tmp_dir, prefix="k2w-bench-") as name:
        yield Path(name)


Measure = Callable[[Path], float]


def measure_rates(plan: Plan, measures: dict[str, Measure]) -> dict[str, Rate]:
    """Run every measurement ``plan.repeat`` times, each in a fresh directory.

    The measurements take turns (one run of each, then the next round), so that a
    slow spell of the machine hits all of them alike instead of one.
    """
    seconds: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(plan.repeat):
        for name, measure in measures.items():
            with fresh_directory(plan) as directory:
                gc.collect()
                seconds[name].append(measure(directory))
    return {name: Rate(plan.jobs, values) for name, values in seconds.items()}


# -- 1. k2w end to end -------------------------------------------------------------------------


async def k2w_throughput(directory: Path, jobs: int, synchronous: str) -> float:
    """Return the seconds from the first add to the last completion of ``jobs`` no-op jobs."""
    config = k2w.K2WConfig(out_dir=directory / "out", synchronous=synchronous)
    async with k2w.K2W.open(directory / "k2w.db", config=config) as app:
        return await run_noop_jobs(app, jobs)


async def run_noop_jobs(app: k2w.K2W, jobs: int) -> float:
    """Add ``jobs`` no-op jobs in bulk and return the seconds until all of them completed."""
    queue = app.queue(QUEUE, k2w.QueueSettings(concurrency=500))

    @queue.handler("noop")
    async def noop(job: k2w.Job) -> None:
        return None

    # The subscription keeps every completion: its buffer is as large as the run, so the
    # bus never coalesces or drops one.
    with app.events.open_subscription(types=["job:completed"], max_buffer=jobs) as feed:
        started = time.perf_counter()
        await queue.add_bulk([{"name": "noop", "payload": i} for i in range(jobs)])
        with anyio.fail_after(TIMEOUT_S):
            await count_completions(feed, jobs)
        elapsed = time.perf_counter() - started

    counts = await queue.counts()
    if counts["completed"] != jobs:
        raise RuntimeError(f"expected {jobs} completed jobs, the queue counts {counts}")
    return elapsed


async def count_completions(feed: k2w.Subscription, jobs: int) -> None:
    """Return once ``feed`` delivered ``jobs`` ``job:completed`` events."""
    completed = 0
    while completed < jobs:
        event = await feed.get()
        if event is None or event.type != "job:completed":
            raise RuntimeError(f"the completion feed lost events: got {event!r}")
        completed += 1


def k2w_measure(plan: Plan, synchronous: str) -> Measure:
    def measure(directory: Path) -> float:
        return anyio.run(k2w_throughput, directory, plan.jobs, synchronous, backend="asyncio")

    return measure


# -- 2. Huey's storage floor -------------------------------------------------------------------


def huey_messages(jobs: int) -> list[bytes]:
    """Serialise ``jobs`` task messages the way Huey's default serializer does (pickle)."""
    return [
        pickle.dumps(Message(f"{i:032x}", "bench.noop", None, 0, 0, None, (i,), {}), protocol=4)
        for i in range(jobs)
    ]


def huey_storage(directory: Path, jobs: int, synchronous: str | None) -> float:
    """Return the seconds to enqueue ``jobs`` messages and dequeue them all again.

    ``synchronous`` None keeps SQLite's default (FULL), which is what SqliteStorage uses
    unless configured otherwise.
    """
    storage = SqliteStorage(name=QUEUE, filename=str(directory / "huey.db"))
    if synchronous is not None:
        storage.conn.execute(f"PRAGMA synchronous = {synchronous}")
    messages = huey_messages(jobs)

    started = time.perf_counter()
    for message in messages:
        storage.enqueue(message)
    dequeued = 0
    while storage.dequeue() is not None:
        dequeued += 1
    elapsed = time.perf_counter() - started

    storage.close()
    if dequeued != jobs:
        raise RuntimeError(f"enqueued {jobs} messages into Huey but dequeued {dequeued}")
    return elapsed


def huey_measure(plan: Plan, synchronous: str | None) -> Measure:
    return lambda directory: huey_storage(directory, plan.jobs, synchronous)


# -- 3. plain sqlite3 ----------------------------------------------------------------------------

PLAIN_SCHEMA = """
CREATE TABLE jobs (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX jobs_claim ON jobs (queue, priority, pk) WHERE state = 'waiting';
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    job_id TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


class Committer:
    """Wrapper of a connection that commits after every ``group`` state changes.

    A group of 1 commits each change on its own.
    """

    def __init__(self, conn: sqlite3.Connection, group: int, *, events: bool) -> None:
        self.conn = conn
        self.group = group
        self.events = events
        self.pending = 0

    def change(self, sql: str, params: Sequence[Any], event: str, job_id: str | None) -> Any:
        """Run one state change; a None ``job_id`` is read from the row the SQL returns."""
        if self.pending == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(sql, params).fetchone()
        if self.events:
            self.conn.execute(
                "INSERT INTO events (ts, type, job_id, data) VALUES (?, ?, ?, '{}')",
                (time.time(), event, row[1] if job_id is None else job_id),
            )
        self.pending += 1
        if self.pending == self.group:
            self.flush()
        return row

    def flush(self) -> None:
        if self.pending:
            self.conn.execute("COMMIT")
            self.pending = 0


def plain_sqlite(directory: Path, jobs: int, group: int, *, events: bool) -> float:
    """Return the seconds to insert, claim and complete ``jobs`` jobs with raw sqlite3."""
    conn = sqlite3.connect(directory / "plain.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(PLAIN_SCHEMA)
    committer = Committer(conn, group, events=events)

    started = time.perf_counter()
    for i in range(jobs):
        committer.change(
            "INSERT INTO jobs (id, queue, state, payload, priority, created_at) "
            "VALUES (?, ?, 'waiting', ?, 100, ?)",
            (f"{i:032x}", QUEUE, json.dumps(i), time.time()),
            "job:added",
            f"{i:032x}",
        )
    for _ in range(jobs):
        pk, job_id = committer.change(
            "UPDATE jobs SET state = 'active', started_at = ? WHERE pk = (SELECT pk FROM jobs "
            "WHERE queue = ? AND state = 'waiting' ORDER BY priority, pk LIMIT 1) "
            "RETURNING pk, id",
            (time.time(), QUEUE),
            "job:active",
            None,
        )
        committer.change(
            "UPDATE jobs SET state = 'completed', finished_at = ? WHERE pk = ?",
            (time.time(), pk),
            "job:completed",
            job_id,
        )
    committer.flush()
    elapsed = time.perf_counter() - started

    completed = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()[0]
    conn.close()
    if completed != jobs:
        raise RuntimeError(f"plain sqlite3 completed {completed} of {jobs} jobs")
    return elapsed


def plain_sqlite_batched(directory: Path, jobs: int, batch: int) -> float:
    """Return the seconds for the same job life cycle, ``batch`` jobs per statement.

    This is the ceiling for an engine that claims and completes in batches as k2w's
    worker does: each batch is inserted, claimed and completed in three commits, and
    every state change writes an event row.
    """
    conn = sqlite3.connect(directory / "batched.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(PLAIN_SCHEMA)
    insert_event = "INSERT INTO events (ts, type, job_id, data) VALUES (?, ?, ?, '{}')"

    started = time.perf_counter()
    for first in range(0, jobs, batch):
        ids = [f"{i:032x}" for i in range(first, min(first + batch, jobs))]
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO jobs (id, queue, state, payload, priority, created_at) "
            "VALUES (?, ?, 'waiting', ?, 100, ?)",
            [(job_id, QUEUE, json.dumps(first + n), now) for n, job_id in enumerate(ids)],
        )
        conn.executemany(insert_event, [(now, "job:added", job_id) for job_id in ids])
        conn.execute("COMMIT")
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        claimed = conn.execute(
            "UPDATE jobs SET state = 'active', started_at = ? WHERE pk IN (SELECT pk FROM jobs "
            "WHERE queue = ? AND state = 'waiting' ORDER BY priority, pk LIMIT ?) "
            "RETURNING pk, id",
            (now, QUEUE, batch),
        ).fetchall()
        conn.executemany(insert_event, [(now, "job:active", job_id) for _, job_id in claimed])
        conn.execute("COMMIT")
        if not claimed:
            break
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE jobs SET state = 'completed', finished_at = ? WHERE pk = ?",
            [(now, pk) for pk, _ in claimed],
        )
        conn.executemany(insert_event, [(now, "job:completed", job_id) for _, job_id in claimed])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started

    completed = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()[0]
    conn.close()
    if completed != jobs:
        raise RuntimeError(f"batched sqlite3 completed {completed} of {jobs} jobs")
    return elapsed


def plain_measure(plan: Plan, group: int, *, events: bool) -> Measure:
    return lambda directory: plain_sqlite(directory, plan.jobs, group, events=events)


def plain_batched_measure(plan: Plan, batch: int) -> Measure:
    return lambda directory: plain_sqlite_batched(directory, plan.jobs, batch)


# -- 4. enqueue-to-start latency -----------------------------------------------------------------


async def k2w_latency(directory: Path, samples: int, warmup: int) -> list[float]:
    """Return ``samples`` delays in seconds from before ``queue.add`` to the handler's start.

    Each job is awaited, then the loop pauses 5 ms so that the worker is back to waiting
    before the next add: the queue is idle every time.
    """
    config = k2w.K2WConfig(out_dir=directory / "out")
    async with k2w.K2W.open(directory / "k2w.db", config=config) as app:
        queue = app.queue(QUEUE, k2w.QueueSettings(concurrency=10))
        started_at: dict[str, float] = {}

        @queue.handler("noop")
        async def noop(job: k2w.Job) -> None:
            started_at[job.id] = time.perf_counter()

        delays = []
        for index in range(warmup + samples):
            await anyio.sleep(0.005)
            before = time.perf_counter()
            job = await queue.add("noop", index)
            finished = await queue.wait(job.id, timeout=TIMEOUT_S)
            if finished.state is not k2w.JobState.COMPLETED:
                raise RuntimeError(f"latency job {job.id} ended {finished.state.value}")
            if index >= warmup:
                delays.append(started_at[job.id] - before)
    return delays


def measure_latency(plan: Plan) -> list[float]:
    with fresh_directory(plan) as directory:
        return anyio.run(k2w_latency, directory, plan.latency_samples, 20, backend="asyncio")


# -- 5. claim cost and memory against a large backlog ----------------------------------------------


async def fill_backlog(path: Path, size: int) -> dict[str, float]:
    """Add ``size`` waiting jobs to a queue that has no handler, so nothing runs them."""
    config = k2w.K2WConfig(out_dir=path.parent / "out")
    async with k2w.K2W.open(path, config=config) as app:
        queue = app.queue(QUEUE)
        started = time.perf_counter()
        for first in range(0, size, FILL_CHUNK):
            chunk = range(first, min(first + FILL_CHUNK, size))
            await queue.add_bulk([{"name": "noop", "payload": i} for i in chunk])
        elapsed = time.perf_counter() - started
        waiting = (await queue.counts())["waiting"]
    if waiting != size:
        raise RuntimeError(f"expected {size} waiting jobs after the fill, found {waiting}")
    return {"fill_s": elapsed, "peak_rss_mib": peak_rss_mib()}


async def claim_from_backlog(path: Path, samples: int) -> dict[str, float]:
    """Time ``samples`` single-job claims on a queue with a filled backlog."""
    config = k2w.K2WConfig(out_dir=path.parent / "out")
    async with k2w.K2W.open(path, config=config) as app:
        # The queue has no handler, so no worker competes for its jobs. The store's claim
        # is private API: it is the exact transaction a worker runs for one free slot.
        store = app._engine.store
        durations = []
        for _ in range(samples):
            before = time.perf_counter()
            claimed = await store.claim(QUEUE, 1, lease_s=30.0)
            durations.append(time.perf_counter() - before)
            if len(claimed) != 1:
                raise RuntimeError(f"a claim returned {len(claimed)} jobs instead of 1")
    return {
        "claim_median_s": statistics.median(durations),
        "claim_p90_s": quantile(durations, 0.90),
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_backlog(plan: Plan, size: int) -> dict[str, float]:
    """Fill a backlog of ``size`` jobs and claim from it, each step in a child process."""
    with fresh_directory(plan) as directory:
        path = directory / "k2w.db"
        filled = run_child(["--child-fill", str(size), str(path)])
        claimed = run_child(["--child-claim", str(plan.claim_samples), str(path)])
    return {
        "fill_s": filled["fill_s"],
        "fill_peak_rss_mib": filled["peak_rss_mib"],
        **claimed,
    }


def run_child(arguments: list[str]) -> dict[str, float]:
    """Run this script with ``arguments`` in a new process; return the JSON it prints last."""
    completed = subprocess.run(
        [sys.executable, __file__, *arguments],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S + 30,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"benchmark child {arguments} exited with {completed.returncode}:\n{completed.stderr}"
        )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB.

    On Linux this reads VmHWM, because ru_maxrss survives exec: a child started by a
    large parent would report at least the parent's size.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes, other systems KiB.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# -- reporting -----------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile of ``values`` (linear interpolation, as numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def filesystem_of(path: Path) -> str:
    """Return the file system type that ``path`` lives on, from /proc/mounts, or "unknown"."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best, kind = "", "unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, kind = mount_point, fields[2]
    return kind


def source_fingerprint() -> str:
    """Describe the k2w source measured: its git commit, and a digest of the files as run.

    The digest changes with any edit to the package, committed or not, so two outputs
    with the same digest measured the same code.
    """
    package = Path(k2w.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    commit = git_output(package, "rev-parse", "--short", "HEAD") or "no git checkout"
    changed = git_output(package, "status", "--porcelain", "--", ".")
    if changed:
        commit += " with uncommitted changes"
    return f"{commit}, source digest {digest.hexdigest()[:12]}"


def git_output(directory: Path, *arguments: str) -> str:
    """Return git's stripped output for ``arguments`` run in ``directory``, or ""."""
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=directory, capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


class OtherCpu:
    """CPU time that other processes used while this benchmark ran.

    Other work on the machine skews every number here. This counts it as the machine's
    busy time in /proc/stat minus the time of this process and its children.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.busy = machine_busy_seconds()
        self.own = own_cpu_seconds()

    def describe(self) -> str:
        busy = machine_busy_seconds()
        if busy is None or self.busy is None:
            return "unknown (no /proc/stat)"
        other = (busy - self.busy) - (own_cpu_seconds() - self.own)
        wall = time.perf_counter() - self.started
        return f"{max(other, 0.0):.1f} CPU-seconds over {wall:.0f} s of wall time"


def machine_busy_seconds() -> float | None:
    """Return the CPU seconds all processes used since boot, or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # The first line lists user, nice, system, idle, iowait, irq, softirq and steal time
    # in clock ticks. Busy time is all of them but idle and iowait.
    user, nice, system, _, _, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """Return the CPU seconds of this process and of the children it waited for."""
    total = 0.0
    for scope in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(scope)
        total += usage.ru_utime + usage.ru_stime
    return total


def machine_facts(plan: Plan) -> list[str]:
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("k2w", "aiosqlite", "huey")
    )
    return [
        f"date: {datetime.date.today().isoformat()}",
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        f"packages: {versions}",
        f"k2w source: {source_fingerprint()}",
        f"database files: {plan.tmp_dir} ({filesystem_of(plan.tmp_dir)}), WAL mode",
    ]


def rate_cell(rate: Rate) -> str:
    if len(rate.seconds) == 1:
        return f"{rate.median:,.0f} jobs/s"
    return f"{rate.median:,.0f} jobs/s ({rate.low:,.0f}–{rate.high:,.0f})"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print()
    print(title)
    print("-" * len(title))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


K2W_NORMAL = "k2w end to end, synchronous=NORMAL (default)"
K2W_FULL = "k2w end to end, synchronous=FULL"
HUEY_NORMAL = "Huey SqliteStorage enqueue+dequeue, synchronous=NORMAL"
HUEY_DEFAULT = "Huey SqliteStorage enqueue+dequeue, default (FULL)"


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything one run of this script measured."""

    rates: dict[str, Rate]
    delays: list[float]
    small_backlog: dict[str, float]
    large_backlog: dict[str, float]

    @property
    def ratio(self) -> float:
        """k2w's end-to-end rate over Huey's storage rate, both at Huey's default (FULL)."""
        return self.rates[K2W_FULL].median / self.rates[HUEY_DEFAULT].median

    @property
    def ratio_normal(self) -> float:
        """k2w's end-to-end rate over Huey's storage rate, both at synchronous=NORMAL."""
        return self.rates[K2W_NORMAL].median / self.rates[HUEY_NORMAL].median


def measure_all(plan: Plan) -> Results:
    # A short run first, so that the measured runs do not pay for first-call costs.
    with fresh_directory(plan) as directory:
        anyio.run(k2w_throughput, directory, min(plan.jobs, 1000), "NORMAL", backend="asyncio")

    rates = measure_rates(
        plan,
        {
            K2W_NORMAL: k2w_measure(plan, "NORMAL"),
            K2W_FULL: k2w_measure(plan, "FULL"),
            HUEY_NORMAL: huey_measure(plan, "NORMAL"),
            HUEY_DEFAULT: huey_measure(plan, None),
            "sqlite3, one commit per state change": plain_measure(plan, 1, events=False),
            "sqlite3, 1,000 state changes per commit": plain_measure(plan, 1000, events=False),
            "sqlite3, 1,000 per commit, plus an event row per change": plain_measure(
                plan, 1000, events=True
            ),
            "sqlite3, 500 jobs per statement and commit, plus event rows": plain_batched_measure(
                plan, 500
            ),
        },
    )
    small, large = plan.backlogs
    return Results(
        rates=rates,
        delays=measure_latency(plan),
        small_backlog=measure_backlog(plan, small),
        large_backlog=measure_backlog(plan, large),
    )


def print_results(plan: Plan, results: Results) -> None:
    print_table("Throughput (durable, one process)", throughput_rows(results))
    delays = results.delays
    print_table(
        f"Enqueue-to-start latency, idle queue ({len(delays)} jobs one at a time)",
        [
            ("p50", f"{quantile(delays, 0.50) * 1000:.2f} ms"),
            ("p99", f"{quantile(delays, 0.99) * 1000:.2f} ms"),
            ("max", f"{max(delays) * 1000:.2f} ms"),
        ],
    )
    small, large = plan.backlogs
    print_table(
        f"Claiming one job (median and p90 of {plan.claim_samples} claims)",
        [*backlog_rows(small, results.small_backlog), *backlog_rows(large, results.large_backlog)],
    )
    print_table("Targets", target_rows(plan, results))


def throughput_rows(results: Results) -> list[tuple[str, str]]:
    return [(name, rate_cell(rate)) for name, rate in results.rates.items()]


def target_rows(plan: Plan, results: Results) -> list[tuple[str, str]]:
    small, large = plan.backlogs
    p50 = quantile(results.delays, 0.50) * 1000
    p99 = quantile(results.delays, 0.99) * 1000
    claim_ratio = results.large_backlog["claim_median_s"] / results.small_backlog["claim_median_s"]
    rss_ratio = results.large_backlog["peak_rss_mib"] / results.small_backlog["peak_rss_mib"]
    return [
        (
            "k2w >= 5× Huey storage, both at Huey's default (FULL)",
            f"{results.ratio:.2f}×  {verdict(results.ratio >= 5)}",
        ),
        (
            "k2w >= 5× Huey storage, both at synchronous=NORMAL",
            f"{results.ratio_normal:.2f}×  {verdict(results.ratio_normal >= 5)}",
        ),
        ("enqueue-to-start p50 < 1 ms", f"{p50:.2f} ms  {verdict(p50 < 1)}"),
        ("enqueue-to-start p99 < 5 ms", f"{p99:.2f} ms  {verdict(p99 < 5)}"),
        (
            f"claim at {large:,} within 2× of claim at {small:,}",
            f"{claim_ratio:.2f}×  {verdict(claim_ratio <= 2)}",
        ),
        (
            f"peak RSS at {large:,} within 10% of {small:,}",
            f"{rss_ratio:.2f}×  {verdict(rss_ratio <= 1.1)}",
        ),
    ]


def run_all(plan: Plan) -> None:
    for line in machine_facts(plan):
        print(line)
    print(
        f"throughput runs: {plan.jobs:,} jobs each, median of {plan.repeat} "
        "(slowest–fastest in brackets)",
        flush=True,
    )
    other_cpu = OtherCpu()
    results = measure_all(plan)
    print_results(plan, results)
    print()
    print(f"other processes used {other_cpu.describe()}")
    print(f"k2w/huey-storage at synchronous=NORMAL: {results.ratio_normal:.1f}×")
    print(f"k2w/huey-storage: {results.ratio:.1f}×")


def backlog_rows(size: int, result: dict[str, float]) -> list[tuple[str, str]]:
    fill_s = result["fill_s"]
    return [
        (
            f"{size:,} waiting: claim median / p90",
            f"{result['claim_median_s'] * 1000:.2f} ms / {result['claim_p90_s'] * 1000:.2f} ms",
        ),
        (
            f"{size:,} waiting: peak RSS of the claiming process",
            f"{result['peak_rss_mib']:.0f} MiB",
        ),
        (
            f"{size:,} waiting: fill with add_bulk ({FILL_CHUNK:,} per call)",
            f"{fill_s:.2f} s ({size / fill_s:,.0f} jobs/s), peak RSS "
            f"{result['fill_peak_rss_mib']:.0f} MiB",
        ),
    ]


# -- command line ---------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run to check the script")
    parser.add_argument("--jobs", type=int, help="jobs per throughput run (default 20,000)")
    parser.add_argument("--repeat", type=int, help="runs per throughput measurement (default 5)")
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=Path("/tmp"),
        help="directory for the database files; use a disk, not tmpfs (default /tmp)",
    )
    parser.add_argument("--child-fill", nargs=2, metavar=("SIZE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--child-claim", nargs=2, metavar=("SAMPLES", "PATH"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def make_plan(arguments: argparse.Namespace) -> Plan:
    if arguments.quick:
        plan = Plan(2_000, 1, 100, 50, (1_000, 50_000), arguments.tmp_dir)
    else:
        # Five runs per row: on a shared machine the median of three still moved by a
        # tenth from one run of the script to the next.
        plan = Plan(20_000, 5, 500, 200, (1_000, 1_000_000), arguments.tmp_dir)
    if arguments.jobs is not None:
        plan = dataclasses.replace(plan, jobs=arguments.jobs)
    if arguments.repeat is not None:
        plan = dataclasses.replace(plan, repeat=arguments.repeat)
    return plan


def main(argv: Sequence[str]) -> None:
    arguments = parse_arguments(argv)
    if arguments.child_fill is not None or arguments.child_claim is not None:
        faulthandler.dump_traceback_later(CHILD_TIMEOUT_S, exit=True)
    if arguments.child_fill is not None:
        size, path = arguments.child_fill
        result = anyio.run(fill_backlog, Path(path), int(size), backend="asyncio")
        print(json.dumps(result))
        return
    if arguments.child_claim is not None:
        samples, path = arguments.child_claim
        result = anyio.run(claim_from_backlog, Path(path), int(samples), backend="asyncio")
        print(json.dumps(result))
        return
    run_all(make_plan(arguments))


if __name__ == "__main__":
    main(sys.argv[1:])
