"""``timeRemaining``: null without history, close to the truth once stages are measured."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import k2w

pytestmark = pytest.mark.anyio

KEYWORDS = [
    "máy lọc không khí",
    "cà phê phin",
    "robot hút bụi",
    "nồi chiên không dầu",
    "bảo hiểm xe máy",
    "laptop cũ",
]


class SteadyWriter:
    """The offline writer behind a fixed latency, like a model that always takes as long."""

    name = "steady"
    offline = True

    def __init__(self, write_s: float, translate_s: float) -> None:
        self._inner = k2w.OfflineWriter()
        self._write_s = write_s
        self._translate_s = translate_s

    async def write_article(
        self, request: k2w.ArticleRequest, *, cache: k2w.ResponseCache | None = None
    ) -> k2w.Article:
        await anyio.sleep(self._write_s)
        return await self._inner.write_article(request)

    async def translate_article(
        self,
        article: k2w.Article,
        target_language: str,
        *,
        cache: k2w.ResponseCache | None = None,
    ) -> k2w.Article:
        await anyio.sleep(self._translate_s)
        return await self._inner.translate_article(article, target_language)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _run_once(app: k2w.K2W) -> list[k2w.Event]:
    run = await app.submit(KEYWORDS, languages=["vi", "en"])
    result = await run.wait(timeout=60)
    assert result.status == "completed"
    return await app.events.history(workflow_id=run.id, limit=10_000)


async def test_null_on_fresh_database(tmp_path: Path) -> None:
    config = k2w.K2WConfig(out_dir=tmp_path / "out")
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config) as app:
        events = await _run_once(app)

    progress = [e for e in events if e.type == "workflow:progress"]
    assert progress
    assert all(e.time_remaining is None for e in progress)


async def test_close_to_truth_on_third_run(tmp_path: Path) -> None:
    config = k2w.K2WConfig(out_dir=tmp_path / "out", concurrency={"content": 2, "translation": 2})
    writer = SteadyWriter(write_s=0.12, translate_s=0.06)
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config, text=writer) as app:
        await _run_once(app)
        await _run_once(app)
        events = await _run_once(app)

    finished = next(e for e in events if e.type == "workflow:complete")
    estimates = [
        e
        for e in events
        if e.type == "workflow:progress"
        and e.time_remaining is not None
        and 20 <= (e.progress or 0) <= 60
    ]
    assert estimates, "no estimate in the middle of the third run"
    errors = []
    for event in estimates:
        actual = finished.ts - event.ts
        assert event.time_remaining is not None
        errors.append(abs(event.time_remaining - actual) / actual)
    errors.sort()
    median_error = errors[len(errors) // 2]
    assert median_error <= 0.30, f"median relative error {median_error:.0%}"
