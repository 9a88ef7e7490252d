"""The Socket.IO example page in real headless Chromium, through two dropped connections.

Needs Debian's chromium (``apt-get install --no-install-recommends chromium
fonts-liberation``); Playwright drives it, and never downloads a browser of its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

import k2w
from support.example_servers import GatedWriter, clear_k2w_environment, load_example, serve

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium: "
        "apt-get install --no-install-recommends chromium fonts-liberation",
    ),
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    # Every host name but localhost resolves to nothing, so no request can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
WORKFLOW_EVENTS = [
    "workflow:queued",
    "workflow:progress",
    "workflow:complete",
    "workflow:failed",
    "workflow:cancelled",
]
WAIT_MS = 30_000


@dataclass
class Served:
    url: str
    k2w: k2w.K2W
    sio: Any
    writer: GatedWriter


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    clear_k2w_environment(monkeypatch)
    example = load_example("socketio_server")
    writer = GatedWriter()
    app = example.create_app(tmp_path / "k2w.db", tmp_path / "out", text=writer)
    async with serve(app) as url:
        yield Served(url, app.other_asgi_app.state.k2w, app.engineio_server, writer)
    await writer.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def keywords() -> list[str]:
    words: list[str] = load_example("k2w_demo").load_keywords()
    return words


async def wait_for(page: Page, condition: str, argument: Any = None) -> None:
    await page.wait_for_function(condition, arg=argument, timeout=WAIT_MS)


FINISHED_ROWS = """
    () => [...document.querySelectorAll('.keyword-row progress')]
        .filter((bar) => bar.value >= 100).length
"""


async def test_page_follows_run_across_dropped_connections(
    served: Served, browser: Browser, keywords: list[str]
) -> None:
    page = await browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    half = len(keywords) // 2

    await page.goto(f"{served.url}/?user=browser&locale=vi")
    await wait_for(page, "() => window.k2wDemo && window.k2wDemo.state.replayed.length === 1")
    await page.click("#start")
    # Articles wait for permits, so the run stops at the content stage for now.
    await wait_for(
        page, "(count) => document.querySelectorAll('.keyword-row').length === count", len(keywords)
    )

    # First drop: the transport closes under the client, which reconnects by itself.
    await page.evaluate("() => window.k2wDemo.socket.io.engine.close()")
    served.writer.allow(half)
    await wait_for(
        page,
        f"(half) => window.k2wDemo.state.replayed.length === 2 && ({FINISHED_ROWS})() === half",
        half,
    )

    # Second drop: the server disconnects the page, which then connects again.
    sid = await page.evaluate("() => window.k2wDemo.socket.id")
    await served.sio.disconnect(sid)
    served.writer.allow(len(keywords) - half)
    await wait_for(
        page,
        "() => window.k2wDemo.state.replayed.length === 3"
        " && document.querySelector('#run-status').dataset.status === 'completed'",
    )

    state = await page.evaluate("() => window.k2wDemo.state")
    history = await served.k2w.events.history(
        user_id="browser", types=WORKFLOW_EVENTS, limit=100_000
    )
    assert state["appliedSeqs"] == [event.seq for event in history]
    assert state["repeatedSeqs"] == []
    assert state["transports"] == ["websocket", "websocket", "websocket"]
    assert history[-1].type == "workflow:complete"

    assert await page.evaluate(FINISHED_ROWS) == len(keywords)
    assert await page.locator("#overall").evaluate("(bar) => bar.value") == 100
    assert await page.locator("#overall-percent").text_content() == "100%"
    assert await page.locator("#time-remaining").text_content() == "Finished"
    overall_message = await page.locator("#overall-message").text_content()
    assert overall_message == history[-1].message
    # The keywords stage's event names every row.
    names = await page.locator(".keyword-name").all_text_contents()
    known = {unicodedata.normalize("NFC", word) for word in keywords}
    assert len(names) == len(keywords)
    assert set(names) == known
    assert page_errors == []
