"""The ``k2w`` command line, built on the public facade only.

``k2w run`` submits keywords (or resumes unfinished runs) and shows live progress;
``k2w status`` lists runs and their jobs; ``k2w report`` prints a run's summary.
This module is the only place in k2w that configures logging handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from ._app import K2W
from ._config import K2WConfig
from ._errors import (
    ConfigurationError,
    InvalidInputError,
    K2WError,
    NotFoundError,
    ProviderError,
    StoreError,
)
from ._events import Event, localize
from ._pipeline._run import Run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # soft_wrap keeps paths and run ids on one line when the output is not a terminal.
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    locale = _locale(args)
    try:
        code: int = anyio.run(_dispatch, args, console, backend="asyncio")
    except K2WError as exc:
        lead = localize(_error_key(exc), locale)
        console.print(f"[red]{escape(lead)}:[/red] {escape(str(exc))}")
        return 2
    except KeyboardInterrupt:
        console.print(localize("cli.interrupted", locale))
        return 130
    return code


def _locale(args: argparse.Namespace) -> str:
    """Return the message language: ``--lang``, else ``K2W_LOCALE``, else English."""
    chosen = getattr(args, "lang", None) or os.environ.get("K2W_LOCALE")
    return "vi" if chosen == "vi" else "en"


_ERROR_KEYS: tuple[tuple[type[K2WError], str], ...] = (
    (StoreError, "cli.error.store"),
    (ConfigurationError, "cli.error.config"),
    (InvalidInputError, "cli.error.input"),
    (NotFoundError, "cli.error.not_found"),
    (ProviderError, "cli.error.provider"),
)


def _error_key(exc: K2WError) -> str:
    for kind, key in _ERROR_KEYS:
        if isinstance(exc, kind):
            return key
    return "cli.error"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k2w", description="Turn search keywords into published web articles."
    )
    parser.add_argument("--db", default="k2w.db", help="SQLite database file (default k2w.db)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run the pipeline on keywords; resumes unfinished runs in the database"
    )
    run.add_argument("keywords", nargs="*", help="keywords, e.g. 'máy lọc không khí'")
    run.add_argument("--file", type=Path, help="a UTF-8 file with one keyword per line")
    run.add_argument(
        "--lang",
        choices=("en", "vi"),
        default=None,
        help="language of progress and error messages (default en, or K2W_LOCALE)",
    )
    run.add_argument(
        "--languages",
        default=None,
        help="comma-separated languages to publish each article in, e.g. vi,en "
        "(default: each keyword's own language)",
    )
    run.add_argument(
        "--source-language",
        default=None,
        help="language the keywords are written in (default: detected per keyword)",
    )
    run.add_argument("--out", type=Path, default=None, help="output folder (default k2w-out)")
    run.add_argument("--user", default=None, help="user id the run's events are addressed to")
    run.add_argument("--priority", type=int, default=100, help="0 runs first (default 100)")
    run.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait for the runs (default 3600)"
    )

    status = commands.add_parser("status", help="show runs, or one run's jobs")
    status.add_argument("run_id", nargs="?", help="a run id from `k2w status`")

    report = commands.add_parser("report", help="print a finished run's report summary")
    report.add_argument("run_id", help="a run id from `k2w status`")
    report.add_argument("--json", action="store_true", help="print the whole report as JSON")
    return parser


async def _dispatch(args: argparse.Namespace, console: Console) -> int:
    if args.command == "run":
        return await _run(args, console)
    if args.command == "status":
        return await _status(args, console)
    return await _report(args, console)


# -- k2w run ------------------------------------------------------------------------------


def _read_keywords(args: argparse.Namespace, locale: str) -> list[str]:
    keywords = list(args.keywords)
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SystemExit(localize("cli.keyword_file_missing", locale, path=args.file)) from None
        except UnicodeDecodeError as exc:
            raise SystemExit(
                localize("cli.keyword_file_not_utf8", locale, path=args.file, reason=exc)
            ) from None
        keywords.extend(line for line in text.splitlines() if line.strip())
    return keywords


async def _run(args: argparse.Namespace, console: Console) -> int:
    keywords = _read_keywords(args, _locale(args))
    overrides: dict[str, Any] = {}
    if args.out is not None:
        overrides["out_dir"] = args.out
    if args.lang is not None:
        overrides["locale"] = args.lang
    config = K2WConfig.from_env(**overrides)
    locale = config.locale
    languages = (
        [code.strip() for code in args.languages.split(",") if code.strip()]
        if args.languages
        else None
    )

    async with K2W.open(args.db, config=config) as app:
        # Events after this seq include the end of every run found or submitted below.
        start_seq = await app.events.last_seq()
        unfinished = await app.list_runs(statuses=("queued", "running"), limit=1000)
        if unfinished:
            console.print(localize("cli.resuming", locale, count=len(unfinished)))
        runs = list(unfinished)
        if keywords:
            runs.append(
                await app.submit(
                    keywords,
                    user_id=args.user,
                    languages=languages,
                    source_language=args.source_language,
                    priority=args.priority,
                    locale=locale,
                )
            )
        if not runs:
            console.print("nothing to do: give keywords or --file, or see `k2w status`")
            return 0
        results = await _follow(app, runs, console, locale, after=start_seq, timeout=args.timeout)

    failed = 0
    for run in results:
        folder = config.out_dir / run.id
        if run.status == "completed":
            console.print(localize("cli.articles_at", locale, path=folder), markup=False)
        else:
            failed += 1
            console.print(f"[red]run {run.id} {run.status}[/red]: {escape(str(run.error))}")
    return 1 if failed else 0


async def _follow(
    app: K2W, runs: list[Run], console: Console, locale: str, *, after: int, timeout: float
) -> list[Run]:
    """Show progress bars for ``runs`` until all are final; return their final snapshots."""
    pending = {run.id for run in runs}
    progress = Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=30),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    overall: dict[str, TaskID] = {}
    per_keyword: dict[tuple[str, str], TaskID] = {}
    last_line: dict[str, str] = {}

    def show(event: Event) -> None:
        run_id = event.workflow_id or ""
        data = event.data
        eta = event.time_remaining
        detail = (
            localize("cli.eta", locale, seconds=eta)
            if eta is not None
            else localize("cli.eta_unknown", locale)
        )
        if event.message:
            detail = f"{event.message}  ({detail})"
        task = overall.get(run_id)
        if task is None:
            task = progress.add_task(
                f"{localize('cli.overall', locale)} {run_id[:8]}", total=100, detail=""
            )
            overall[run_id] = task
        progress.update(task, completed=event.progress or 0.0, detail=detail)
        for index, value in (data.get("keywords") or {}).items():
            key = (run_id, index)
            if key not in per_keyword:
                label = data.get("keyword") if str(data.get("keywordIndex")) == index else None
                per_keyword[key] = progress.add_task(
                    f"  {(label or f'#{index}')[:40]}", total=100, detail=""
                )
            progress.update(per_keyword[key], completed=value)
        if not console.is_terminal:
            line = f"{event.progress or 0:5.1f}% {event.message or ''}"
            if line != last_line.get(run_id):
                last_line[run_id] = line
                console.print(f"[{run_id[:8]}] {line}", markup=False)

    with progress:
        with anyio.fail_after(timeout):
            async for event in app.events.stream(
                types=(
                    "workflow:progress",
                    "workflow:complete",
                    "workflow:failed",
                    "workflow:cancelled",
                ),
                after=after,
            ):
                if event.workflow_id not in pending:
                    continue
                show(event)
                if event.type != "workflow:progress":
                    pending.discard(event.workflow_id or "")
                if not pending:
                    break
    return [await app.get_run(run.id) for run in runs]


# -- k2w status and k2w report -------------------------------------------------------------


async def _status(args: argparse.Namespace, console: Console) -> int:
    async with K2W.open(args.db, config=K2WConfig.from_env()) as app:
        if args.run_id is None:
            table = Table("run", "status", "progress", "keywords", "user", title="k2w runs")
            for run in await app.list_runs(limit=100):
                table.add_row(
                    run.id,
                    run.status,
                    f"{run.progress:.0f}%",
                    str(len(run.keywords)),
                    run.user_id or "",
                )
            console.print(table)
            return 0
        run = await app.get_run(args.run_id)
        table = Table("keyword", "stage", "state", "attempts", "error", title=f"run {run.id}")
        for job in await app.run_jobs(run.id):
            plan = job.payload.get("plan") if isinstance(job.payload, dict) else None
            table.add_row(
                escape(plan["keyword"]) if plan else "—",
                job.name,
                job.state.value,
                str(job.attempts_made),
                escape(job.error or ""),
            )
        console.print(f"{run.id}: {run.status}, {run.progress:.0f}%")
        console.print(table)
        return 0


async def _report(args: argparse.Namespace, console: Console) -> int:
    async with K2W.open(args.db, config=K2WConfig.from_env()) as app:
        run = await app.get_run(args.run_id)
        report = run.report
        if report is None:
            console.print(f"run {run.id} is {run.status} and has no report yet")
            return 1
        if args.json:
            sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
            return 0
        totals = report["totals"]
        console.print(
            f"run {run.id}: {run.status}; {totals['published']} of {totals['keywords']} "
            f"published, {totals['retries']} retries, "
            f"{totals['promptTokens'] + totals['completionTokens']} tokens, "
            f"about ${totals['costUsd']:.4f}"
        )
        table = Table("keyword", "slug", "SEO", "image", "outputs")
        for entry in report["keywords"]:
            table.add_row(
                escape(entry["keyword"]),
                entry["slug"],
                str(entry["seoScore"] if entry["seoScore"] is not None else "—"),
                "no" if entry["image"]["skipped"] else "yes",
                escape(", ".join(output["location"] for output in entry["outputs"]))
                or "not published",
            )
        console.print(table)
        for path in report.get("files", []):
            console.print(path, markup=False)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
