"""The seven stages end to end: offline, against a local OpenAI-compatible server, and
across a killed process."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

import k2w
from support.openai_server import TITLE_PREFIX, FakeOpenAIServer, RecordingSleep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KEYWORDS_VI = EXAMPLES.joinpath("keywords-vi.txt").read_text(encoding="utf-8").splitlines()
CHILD = Path(__file__).resolve().parent / "support" / "pipeline_child.py"

pytestmark = pytest.mark.anyio


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[k2w.K2W]:
    config = k2w.K2WConfig(out_dir=tmp_path / "out")
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config) as opened:
        yield opened


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match is not None, f"{path} has no front matter"
    loaded = yaml.safe_load(match.group(1))
    assert isinstance(loaded, dict)
    return loaded


async def test_offline_run_writes_every_article(app: k2w.K2W, tmp_path: Path) -> None:
    events: list[k2w.Event] = []
    app.events.subscribe(events.append)

    run = await app.submit(KEYWORDS_VI, user_id="u1", languages=["vi", "en"])
    result = await run.wait(timeout=60)

    assert result.status == "completed"
    folder = tmp_path / "out" / run.id
    vi_files = sorted(folder.joinpath("vi").glob("*.md"))
    en_files = sorted(folder.joinpath("en").glob("*.md"))
    assert len(vi_files) == 10
    assert len(en_files) == 10
    assert folder.joinpath("vi", "du-lich-da-lat-tu-tuc-3-ngay-2-dem.md").exists()
    for path in vi_files + en_files:
        assert re.fullmatch(r"[a-z0-9-]+\.md", path.name), path.name
        meta = _front_matter(path)
        assert meta["slug"] == path.stem
        assert meta["offline"] is True
        body = path.read_text(encoding="utf-8")
        assert "<script" not in body.lower()
    final = [e for e in events if e.workflow_id == run.id and e.type == "workflow:complete"]
    assert final[-1].progress == 100.0


async def test_offline_article_language_and_marking(app: k2w.K2W, tmp_path: Path) -> None:
    run = await app.submit(["cách pha cà phê phin ngon"], languages=["vi", "en"])
    await run.wait(timeout=60)

    folder = tmp_path / "out" / run.id
    vi = _front_matter(folder / "vi" / "cach-pha-ca-phe-phin-ngon.md")
    en = _front_matter(folder / "en" / "cach-pha-ca-phe-phin-ngon.md")
    assert vi["language"] == "vi"
    assert en["language"] == "en"
    assert vi["keyword"] == "cách pha cà phê phin ngon"
    assert "offline" in vi["generator"]


async def test_submit_returns_queued_before_any_stage(app: k2w.K2W) -> None:
    keywords_queue = app.queue("k2w.keywords")
    await keywords_queue.pause()

    run = await app.submit(["robot hút bụi lau nhà"])

    assert run.status == "queued"
    jobs = await app.run_jobs(run.id)
    assert [job.state for job in jobs] == [k2w.JobState.WAITING]
    await keywords_queue.resume()
    assert (await run.wait(timeout=60)).status == "completed"


async def test_events_ordered_progress_monotonic(app: k2w.K2W) -> None:
    run = await app.submit(KEYWORDS_VI[:4], user_id="u1", languages=["vi", "en"])
    await run.wait(timeout=60)

    events = [e async for e in app.events.stream(workflow_id=run.id, follow=False)]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    progress = [e.progress for e in events if e.type.startswith("workflow:")]
    assert progress == sorted(p for p in progress if p is not None)
    assert events[0].type == "workflow:queued"
    assert events[-1].type == "workflow:complete"


async def test_progress_messages_follow_locale(app: k2w.K2W) -> None:
    run = await app.submit(["nồi chiên không dầu loại nào tốt"], locale="vi")
    await run.wait(timeout=60)

    events = await app.events.history(workflow_id=run.id, types=["workflow:progress"])
    messages = [e.message or "" for e in events]
    assert any(m.startswith("Đang viết nội dung cho 'nồi chiên") for m in messages)
    complete = await app.events.history(workflow_id=run.id, types=["workflow:complete"])
    assert complete[0].message == "Hoàn tất: đã đăng 1/1 bài viết ✅"


async def test_duplicate_keywords_are_dropped(app: k2w.K2W) -> None:
    run = await app.submit(["hòa bình", "hoà bình", "  HÒA   bình "])
    result = await run.wait(timeout=60)

    assert result.report is not None
    assert result.report["totals"]["keywords"] == 1
    assert result.report["totals"]["duplicates"] == 2


async def test_wire_payload_is_camel_case(app: k2w.K2W) -> None:
    run = await app.submit(["bảo hiểm xe máy online"], user_id="u7")
    await run.wait(timeout=60)

    [event] = (await app.events.history(workflow_id=run.id, types=["workflow:progress"]))[:1]
    wire = event.to_wire()
    for key in ("workflowId", "userId", "stage", "progress", "message", "timeRemaining", "seq"):
        assert key in wire, key
    assert wire["userId"] == "u7"
    json.dumps(wire)


BAD_SUBMISSIONS: list[tuple[str, dict[str, Any]]] = [
    ("empty list", {"keywords": []}),
    ("only blanks", {"keywords": ["", "   ", "\t"]}),
    ("not a list", {"keywords": "máy lọc không khí"}),
    ("non-string keyword", {"keywords": ["ok", 123]}),
    ("keyword too long", {"keywords": ["a" * 201]}),
    ("nul byte", {"keywords": ["máy\x00lọc"]}),
    ("control character", {"keywords": ["máy\x07lọc"]}),
    ("unknown language", {"keywords": ["ok"], "languages": ["xx"]}),
    ("languages as string", {"keywords": ["ok"], "languages": "vi"}),
    ("negative priority", {"keywords": ["ok"], "priority": -1}),
    ("float priority", {"keywords": ["ok"], "priority": 1.5}),
    ("bool priority", {"keywords": ["ok"], "priority": True}),
    ("unknown locale", {"keywords": ["ok"], "locale": "fr"}),
]


@pytest.mark.parametrize(
    ("case", "arguments"), BAD_SUBMISSIONS, ids=[case for case, _ in BAD_SUBMISSIONS]
)
async def test_bad_submission_rejected_cleanly(
    app: k2w.K2W, tmp_path: Path, case: str, arguments: dict[str, Any]
) -> None:
    db = sqlite3.connect(tmp_path / "k2w.db")
    tables = ("runs", "jobs", "events")
    before = [db.execute(f"SELECT COUNT(*) FROM {table}").fetchone() for table in tables]

    keywords = arguments.pop("keywords")
    with pytest.raises(k2w.InvalidInputError) as raised:
        await app.submit(keywords, **arguments)

    assert isinstance(raised.value, ValueError)
    assert str(raised.value)
    after = [db.execute(f"SELECT COUNT(*) FROM {table}").fetchone() for table in tables]
    assert after == before


async def test_long_keyword_error_names_limit(app: k2w.K2W) -> None:
    with pytest.raises(k2w.InvalidInputError, match="200"):
        await app.submit(["ok", "b" * 250])


async def test_run_against_local_openai_server(tmp_path: Path) -> None:
    sleeps = RecordingSleep()
    with FakeOpenAIServer() as server:
        server.script(429, headers={"retry-after": "2"}, path="/chat/completions")
        server.script(500, path="/chat/completions")
        settings = k2w.OpenAISettings(base_url=server.base_url, model="local-model")
        text = k2w.OpenAIText(settings, sleep=sleeps)
        config = k2w.K2WConfig(out_dir=tmp_path / "out", llm=settings)
        async with k2w.K2W.open(tmp_path / "k2w.db", config=config, text=text) as app:
            run = await app.submit(["máy lọc không khí cho phòng ngủ"], languages=["vi", "en"])
            result = await run.wait(timeout=60)
        await text.aclose()
        calls = server.calls

    assert result.status == "completed"
    assert sleeps.waits[0] >= 2.0
    chat_calls = [c for c in calls if c["path"].endswith("/chat/completions")]
    assert len(chat_calls) == 4  # 429, 500, the article, its translation
    article_md = tmp_path / "out" / run.id / "vi" / "may-loc-khong-khi-cho-phong-ngu.md"
    meta = _front_matter(article_md)
    assert meta["offline"] is False
    assert meta["generator"] == "openai:local-model"
    assert meta["title"].startswith(TITLE_PREFIX)


async def test_refused_key_fails_run_at_once(tmp_path: Path) -> None:
    with FakeOpenAIServer(api_key="the-right-key") as server:
        settings = k2w.OpenAISettings(
            base_url=server.base_url, model="local-model", api_key="a-wrong-key"
        )
        config = k2w.K2WConfig(out_dir=tmp_path / "out", llm=settings)
        async with k2w.K2W.open(tmp_path / "k2w.db", config=config) as app:
            run = await app.submit(["cách trồng rau sạch trên sân thượng"])
            result = await run.wait(timeout=60)
            jobs = {job.name: job for job in await app.run_jobs(run.id)}
        calls = server.calls

    assert result.status == "failed"
    assert len(calls) == 1
    content = jobs["content"]
    assert content.state is k2w.JobState.FAILED
    assert content.attempts_made == 1
    assert content.error is not None
    assert "ProviderAuthError" in content.error
    assert server.base_url in content.error
    assert "a-wrong-key" not in content.error


async def test_trio_is_rejected_with_clear_error(tmp_path: Path) -> None:
    trio = pytest.importorskip("trio")

    async def open_under_trio() -> None:
        async with k2w.K2W.open(tmp_path / "trio.db"):
            pass

    with pytest.raises(k2w.UnsupportedBackendError, match="asyncio"):
        await anyio.to_thread.run_sync(trio.run, open_under_trio)


def _start_child(db: Path, out: Path, base_url: str, *keywords: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(out), base_url, *keywords],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


@pytest.mark.slow
def test_killed_process_resumes_without_repeating_stages(tmp_path: Path) -> None:
    keywords = ["máy lọc không khí", "cà phê phin", "robot hút bụi"]
    db, out = tmp_path / "k2w.db", tmp_path / "out"
    with FakeOpenAIServer() as server:
        server.hold_chat_after(1)
        child = _start_child(db, out, server.base_url, *keywords)
        assert server.holding.wait(timeout=60), "the child never reached the second article"
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        server.hold_chat_after(10_000)
        server.release()

        with sqlite3.connect(db) as conn:
            states = dict(conn.execute("SELECT id, state FROM jobs WHERE name = 'content'"))
        completed_before = [job for job, state in states.items() if state == "completed"]
        active_before = [job for job, state in states.items() if state == "active"]

        resumed = _start_child(db, out, server.base_url)
        stdout, stderr = resumed.communicate(timeout=120)
        calls = server.calls

    assert child.returncode == -signal.SIGKILL
    assert len(completed_before) == 1
    assert len(active_before) == 1
    assert resumed.returncode == 0, stderr
    assert re.search(r"finished \w+ completed", stdout)
    requested = [c["keyword"] for c in calls if c["path"].endswith("/chat/completions")]
    assert sorted(set(requested)) == sorted(keywords)
    counts = {keyword: requested.count(keyword) for keyword in keywords}
    assert sorted(counts.values()) == [1, 1, 2]
    with sqlite3.connect(db) as conn:
        stalled = conn.execute(
            "SELECT attempts_made, stalls, state FROM jobs WHERE id = ?", (active_before[0],)
        ).fetchone()
        finished = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()
    assert stalled == (2, 1, "completed")
    assert finished[0] == 1 + 5 * 3 + 1
