"""``K2W.start``: an app that outlives one notebook cell."""

from __future__ import annotations

from pathlib import Path

import pytest

import k2w

pytestmark = pytest.mark.anyio


async def test_start_runs_until_aclose(tmp_path: Path) -> None:
    app = await k2w.K2W.start(tmp_path / "k2w.db", config=k2w.K2WConfig(out_dir=tmp_path))

    run = await app.submit(["robot hút bụi lau nhà"])
    result = await run.wait(timeout=60)
    await app.aclose()

    assert result.status == "completed"
    with pytest.raises(k2w.UsageError):
        await app.aclose()


async def test_start_reports_open_failure(tmp_path: Path) -> None:
    with pytest.raises(k2w.StoreError, match="cannot open"):
        await k2w.K2W.start(tmp_path, config=k2w.K2WConfig(out_dir=tmp_path))


async def test_aclose_rejected_for_open_apps(tmp_path: Path) -> None:
    config = k2w.K2WConfig(out_dir=tmp_path)
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config) as app:
        with pytest.raises(k2w.UsageError, match="async with"):
            await app.aclose()
