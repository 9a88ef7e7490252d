"""Profile the end-to-end throughput run of queue_throughput.py with cProfile.

Run from the repository root::

    python benchmarks/profile_throughput.py                # 20,000 jobs
    python benchmarks/profile_throughput.py --save /tmp/p  # also write .prof files

k2w works in three threads: the event loop, and one thread per aiosqlite connection
(the writer, which runs every transaction, and the reader). cProfile records only the
thread that enables it, so this script starts one profiler in each: the connection
threads get theirs through aiosqlite's ``Connection._execute``, which runs a function
on that connection's thread. Each thread's report gives percentages of the wall time
of the run. In the event loop thread, time spent in ``select`` or ``epoll.poll`` is
the loop waiting, mostly for the writer thread.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

import k2w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import run_noop_jobs


async def profiled_run(directory: Path, jobs: int) -> tuple[float, dict[str, cProfile.Profile]]:
    """Run ``jobs`` no-op jobs with a profiler in each of k2w's threads."""
    config = k2w.K2WConfig(out_dir=directory / "out")
    async with k2w.K2W.open(directory / "k2w.db", config=config) as app:
        # Private attributes: the store's two aiosqlite connections.
        connections = {"writer": app._store._writer, "reader": app._store._reader}
        profilers = {name: cProfile.Profile() for name in ("event loop", *connections)}
        for name, connection in connections.items():
            assert connection is not None
            await connection._execute(profilers[name].enable)  # type: ignore[no-untyped-call]

        profilers["event loop"].enable()
        started = time.perf_counter()
        await run_noop_jobs(app, jobs)
        elapsed = time.perf_counter() - started
        profilers["event loop"].disable()

        for name, connection in connections.items():
            assert connection is not None
            await connection._execute(profilers[name].disable)  # type: ignore[no-untyped-call]
    return elapsed, profilers


def print_report(name: str, profiler: cProfile.Profile, wall_s: float, top: int) -> None:
    stats = pstats.Stats(profiler)
    busy_s = stats.total_tt  # type: ignore[attr-defined]
    print()
    print(f"== {name} thread: {busy_s:.2f} s profiled of {wall_s:.2f} s wall ==")
    for sort, label in (("cumulative", "cumulative"), ("tottime", "own time")):
        print(f"-- top {top} by {label} (% of wall time)")
        rows = sorted(
            stats.stats.items(),  # type: ignore[attr-defined]
            key=lambda item: item[1][3] if sort == "cumulative" else item[1][2],
            reverse=True,
        )
        for (filename, line, function), (_, calls, own, cumulative, _) in rows[:top]:
            seconds = cumulative if sort == "cumulative" else own
            where = f"{short_path(filename)}:{line}({function})"
            print(f"{seconds / wall_s * 100:6.1f} %  {calls:>9,}  {where}")


def short_path(filename: str) -> str:
    """Shorten a source path to the part after site-packages or src."""
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs to run (default 20,000)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table")
    parser.add_argument("--save", type=Path, help="directory to write one .prof file per thread")
    parser.add_argument("--tmp-dir", type=Path, default=Path("/tmp"), help="database directory")
    arguments = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=arguments.tmp_dir, prefix="k2w-bench-") as name:
        elapsed, profilers = anyio.run(profiled_run, Path(name), arguments.jobs, backend="asyncio")
    print(
        f"{arguments.jobs:,} jobs in {elapsed:.2f} s under the profiler "
        f"({arguments.jobs / elapsed:,.0f} jobs/s; profiling slows the run)"
    )
    for thread, profiler in profilers.items():
        print_report(thread, profiler, elapsed, arguments.top)
        if arguments.save is not None:
            arguments.save.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(arguments.save / f"{thread.replace(' ', '-')}.prof")


if __name__ == "__main__":
    main(sys.argv[1:])
