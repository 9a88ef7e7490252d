"""Runs the pipeline in a child process, for tests that kill a process mid-run.

Usage: python pipeline_child.py DB OUT_DIR BASE_URL [KEYWORD ...]

With keywords it submits a run; without, it resumes the unfinished runs in DB. It prints
``submitted RUN_ID`` and, for each run it waits for, ``finished RUN_ID STATUS``.
"""

from __future__ import annotations

import sys

import anyio

import k2w


async def main(db: str, out_dir: str, base_url: str, keywords: list[str]) -> int:
    config = k2w.K2WConfig(
        out_dir=out_dir,
        llm=k2w.OpenAISettings(base_url=base_url, model="fake-model", max_retries=1),
        # One content job at a time, so a kill lands after some articles were written
        # and while exactly one is being written.
        concurrency={"content": 1},
        retry_delay_s=0.05,
        max_retry_delay_s=0.2,
    )
    async with k2w.K2W.open(db, config=config) as app:
        runs = await app.list_runs(statuses=("queued", "running"))
        if keywords:
            run = await app.submit(keywords)
            print("submitted", run.id, flush=True)
            runs.append(run)
        failed = 0
        for run in runs:
            result = await run.wait(timeout=120)
            print("finished", result.id, result.status, flush=True)
            failed += result.status != "completed"
    return 1 if failed else 0


if __name__ == "__main__":
    db, out_dir, base_url, *words = sys.argv[1:]
    sys.exit(anyio.run(main, db, out_dir, base_url, words, backend="asyncio"))
