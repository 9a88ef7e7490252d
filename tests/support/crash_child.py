"""Runs jobs that never finish, for tests that kill the process while jobs are active.

Usage: python crash_child.py DB COUNT

Opens an app on DB in virtual time (k2w.FakeClock at its default start), adds COUNT jobs
named "block" to the queue "crash" (three attempts, no backoff delay) and prints
``ready JOB_ID`` once each handler runs. The handlers never return: the test kills the
process with SIGKILL while they are active.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

import k2w


async def main(db: str, count: int) -> None:
    config = k2w.K2WConfig(out_dir=Path(db).parent / "out", event_retention_s=None)
    async with k2w.K2W.open(db, config=config, clock=k2w.FakeClock()) as app:
        queue = app.queue("crash", k2w.QueueSettings(concurrency=count))

        @queue.handler("block")
        async def block(job: k2w.Job) -> None:
            print("ready", job.id, flush=True)
            await anyio.sleep_forever()

        for index in range(count):
            await queue.add("block", index, attempts=3, backoff=k2w.Backoff.fixed(0))
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), backend="asyncio")
