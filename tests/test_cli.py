"""The ``k2w`` command line: run, resume, status and report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest

import k2w
from k2w._cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_run_writes_articles_and_reaches_100(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--db",
            str(tmp_path / "k2w.db"),
            "run",
            "--file",
            str(EXAMPLES / "keywords-vi.txt"),
            "--languages",
            "vi,en",
            "--out",
            str(tmp_path / "out"),
        ]
    )

    output = capsys.readouterr().out
    assert code == 0
    assert "100.0% Done: 10 of 10 articles published" in output
    assert re.search(r"^\[[0-9a-f]{8}\] 100\.0% Done", output, re.MULTILINE)
    assert len(list((tmp_path / "out").glob("*/vi/*.md"))) == 10
    assert len(list((tmp_path / "out").glob("*/en/*.md"))) == 10


def test_run_messages_in_vietnamese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            *("--db", str(tmp_path / "k2w.db"), "run", "cà phê phin"),
            *("--lang", "vi", "--out", str(tmp_path / "out")),
        ]
    )

    output = capsys.readouterr().out
    assert code == 0
    assert "Hoàn tất: đã đăng 1/1 bài viết" in output
    assert "Bài viết đã lưu tại" in output


def test_status_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "k2w.db")
    main(["--db", db, "run", "robot hút bụi", "--out", str(tmp_path / "out")])
    run_id = re.findall(r"[0-9a-f]{32}", capsys.readouterr().out)[-1]

    assert main(["--db", db, "status"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["--db", db, "status", run_id]) == 0
    status = capsys.readouterr().out
    assert "robot hút bụi" in status
    assert "publishing" in status
    assert main(["--db", db, "report", run_id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["published"] == 1


def test_bad_keyword_file_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keywords = tmp_path / "keywords.txt"
    keywords.write_text("máy lọc không khí\nbad\x00keyword\n", encoding="utf-8")

    code = main(["--db", str(tmp_path / "k2w.db"), "run", "--file", str(keywords)])

    output = capsys.readouterr().out
    assert code == 2
    assert "keyword 2" in output
    assert "U+0000" in output


def test_missing_keyword_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--db", str(tmp_path / "k2w.db"), "run", "--file", str(tmp_path / "none.txt")])


def test_missing_keyword_file_in_vietnamese(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="không có tệp từ khóa"):
        main(
            [
                *("--db", str(tmp_path / "k2w.db"), "run", "--lang", "vi"),
                *("--file", str(tmp_path / "none.txt")),
            ]
        )


def test_library_error_lead_follows_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory is not a database file.
    english = main(["--db", str(tmp_path), "run", "cà phê"])
    english_output = capsys.readouterr().out
    vietnamese = main(["--db", str(tmp_path), "run", "--lang", "vi", "cà phê"])
    vietnamese_output = capsys.readouterr().out
    monkeypatch.setenv("K2W_LOCALE", "vi")
    from_env = main(["--db", str(tmp_path), "status"])
    from_env_output = capsys.readouterr().out

    assert (english, vietnamese, from_env) == (2, 2, 2)
    assert english_output.startswith("error: cannot open the database")
    assert vietnamese_output.startswith("lỗi cơ sở dữ liệu: cannot open the database")
    assert from_env_output.startswith("lỗi cơ sở dữ liệu: ")
    assert "it is a directory" in vietnamese_output


class _StuckWriter:
    """Starts writing and never finishes, until the app shuts down."""

    name = "offline"
    offline = True

    def __init__(self, started: anyio.Event) -> None:
        self._started = started

    async def write_article(
        self, request: k2w.ArticleRequest, *, cache: k2w.ResponseCache | None = None
    ) -> k2w.Article:
        self._started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def translate_article(
        self,
        article: k2w.Article,
        target_language: str,
        *,
        cache: k2w.ResponseCache | None = None,
    ) -> k2w.Article:
        return article

    async def aclose(self) -> None:
        return None


def test_run_resumes_unfinished_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "k2w.db"

    async def start_and_stop() -> None:
        started = anyio.Event()
        config = k2w.K2WConfig(out_dir=tmp_path / "out")
        async with k2w.K2W.open(db, config=config, text=_StuckWriter(started)) as app:
            await app.submit(["nồi chiên không dầu"])
            await started.wait()

    anyio.run(start_and_stop, backend="asyncio")
    code = main(["--db", str(db), "run", "--out", str(tmp_path / "out")])

    output = capsys.readouterr().out
    assert code == 0
    assert "Resuming 1 unfinished run" in output
    assert "100.0% Done: 1 of 1 articles published" in output
