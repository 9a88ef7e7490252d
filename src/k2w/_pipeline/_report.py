"""The run report: per keyword and per stage, built from the jobs' stored results.

``report.json`` contains the data, and ``report.html`` is a self-contained page (inline CSS and
SVG, no network assets) with a timeline of every keyword's stages.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import anyio

from .._store import JobRecord, JobState, RunRecord
from ._models import KEYWORD_STAGES, STAGES

__all__ = ["build_report", "write_report_files"]


def build_report(run: RunRecord, jobs: Sequence[JobRecord], *, now: float) -> dict[str, Any]:
    """Summarise a run from its jobs: stages, retries, usage, SEO scores and outputs."""
    by_id = {job.id: job for job in jobs}
    plans_job = by_id.get(f"{run.id}.keywords")
    plans = (plans_job.result or {}).get("plans", []) if plans_job else []
    duplicates = (plans_job.result or {}).get("duplicates", []) if plans_job else []

    keywords = [_keyword_entry(run.id, plan, by_id) for plan in plans]
    stages = {stage: _stage_summary(stage, jobs) for stage in STAGES}
    published = sum(1 for entry in keywords if entry["published"])
    return {
        "runId": run.id,
        "userId": run.user_id,
        "createdAt": run.created_at,
        "generatedAt": now,
        "durationS": round(now - run.created_at, 3),
        "options": run.options,
        "totals": {
            "keywords": len(plans),
            "published": published,
            "failed": len(plans) - published,
            "duplicates": len(duplicates),
            "retries": sum(summary["retries"] for summary in stages.values()),
            "promptTokens": sum(e["usage"]["promptTokens"] for e in keywords),
            "completionTokens": sum(e["usage"]["completionTokens"] for e in keywords),
            "costUsd": round(sum(e["usage"]["costUsd"] for e in keywords), 6),
            "imagesSkipped": sum(1 for e in keywords if e["image"]["skipped"]),
        },
        "duplicates": duplicates,
        "stages": stages,
        "keywords": keywords,
    }


def _keyword_entry(
    run_id: str, plan: dict[str, Any], by_id: dict[str, JobRecord]
) -> dict[str, Any]:
    index = plan["index"]
    stage_rows: dict[str, Any] = {}
    usage = {"promptTokens": 0, "completionTokens": 0, "costUsd": 0.0, "calls": 0}
    for stage in KEYWORD_STAGES:
        job = by_id.get(f"{run_id}.{index}.{stage}")
        stage_rows[stage] = _job_row(job)
        for piece in _usages(stage, job):
            usage["promptTokens"] += int(piece.get("prompt_tokens", 0))
            usage["completionTokens"] += int(piece.get("completion_tokens", 0))
            usage["costUsd"] += float(piece.get("cost_usd", 0.0))
            usage["calls"] += int(piece.get("calls", 0))

    seo_job = by_id.get(f"{run_id}.{index}.seo")
    seo_score = (seo_job.result or {}).get("score") if _completed(seo_job) else None
    image_job = by_id.get(f"{run_id}.{index}.images")
    image = image_job.result if _completed(image_job) else None
    publish_job = by_id.get(f"{run_id}.{index}.publishing")
    outputs = (publish_job.result or {}).get("results", []) if _completed(publish_job) else []
    content_job = by_id.get(f"{run_id}.{index}.content")
    content = content_job.result if _completed(content_job) else None
    return {
        "index": index,
        "keyword": plan["keyword"],
        "slug": plan["slug"],
        "language": plan["language"],
        "languages": plan["languages"],
        "title": (content or {}).get("title"),
        "generator": (content or {}).get("generator"),
        "offline": bool((content or {}).get("offline")),
        "stages": stage_rows,
        "seoScore": seo_score,
        "image": {
            "skipped": bool(image and image.get("skipped")) or image is None,
            "error": (image or {}).get("error"),
            "generator": (image or {}).get("generator"),
        },
        "usage": usage,
        "published": bool(outputs),
        "outputs": outputs,
    }


def _job_row(job: JobRecord | None) -> dict[str, Any]:
    if job is None:
        return {"state": "missing"}
    duration = None
    if job.started_at is not None and job.finished_at is not None:
        duration = round(job.finished_at - job.started_at, 3)
    return {
        "state": job.state.value,
        "attempts": job.attempts_made,
        "stalls": job.stalls,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
        "durationS": duration,
        "error": job.error,
    }


def _usages(stage: str, job: JobRecord | None) -> list[dict[str, Any]]:
    if not _completed(job) or not isinstance(job.result, dict):
        return []
    result = job.result
    if stage in ("content", "images"):
        return [result.get("usage") or {}]
    if stage == "translation":
        return [article.get("usage") or {} for article in result.get("articles", {}).values()]
    return []


def _completed(job: JobRecord | None) -> TypeGuard[JobRecord]:
    return job is not None and job.state is JobState.COMPLETED


def _stage_summary(stage: str, jobs: Sequence[JobRecord]) -> dict[str, Any]:
    mine = [job for job in jobs if job.name == stage]
    durations = [
        job.finished_at - job.started_at
        for job in mine
        if job.state is JobState.COMPLETED and job.started_at and job.finished_at
    ]
    usage = [piece for job in mine for piece in _usages(stage, job)]
    return {
        "jobs": len(mine),
        "promptTokens": sum(int(piece.get("prompt_tokens", 0)) for piece in usage),
        "completionTokens": sum(int(piece.get("completion_tokens", 0)) for piece in usage),
        "costUsd": round(sum(float(piece.get("cost_usd", 0.0)) for piece in usage), 6),
        "completed": sum(1 for job in mine if job.state is JobState.COMPLETED),
        "failed": sum(1 for job in mine if job.state is JobState.FAILED),
        "cancelled": sum(1 for job in mine if job.state is JobState.CANCELLED),
        "retries": sum(max(0, job.attempts_made - 1) for job in mine),
        "meanDurationS": round(sum(durations) / len(durations), 3) if durations else None,
    }


async def write_report_files(folder: Path, report: dict[str, Any]) -> list[str]:
    """Write ``report.json`` and ``report.html`` into ``folder``; return their paths."""

    def write() -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / "report.json"
        html_path = folder / "report.html"
        _write_atomic(json_path, json.dumps(report, ensure_ascii=False, indent=2))
        _write_atomic(html_path, render_html(report))
        return [str(json_path), str(html_path)]

    return await anyio.to_thread.run_sync(write)


def _write_atomic(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_COLOURS = {
    "completed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#757575",
    "active": "#1565c0",
    "missing": "#bdbdbd",
}


def render_html(report: dict[str, Any]) -> str:
    """Return the self-contained HTML page for a report."""
    totals = report["totals"]
    escape = html.escape
    rows = []
    for entry in report["keywords"]:
        outputs = "<br>".join(
            f'<a href="{escape(_relative_link(output.get("location", "")))}">'
            f"{escape(output.get('language', ''))}</a>"
            for output in entry["outputs"]
        )
        image_note = "—" if entry["image"]["skipped"] else escape(entry["image"]["generator"] or "")
        if entry["image"]["error"]:
            image_note = f'<span class="bad">{escape(entry["image"]["error"])}</span>'
        rows.append(
            "<tr>"
            f"<td>{escape(entry['keyword'])}</td>"
            f"<td><code>{escape(entry['slug'])}</code></td>"
            f"<td>{entry['seoScore'] if entry['seoScore'] is not None else '—'}</td>"
            f"<td>{entry['usage']['promptTokens'] + entry['usage']['completionTokens']}</td>"
            f"<td>{entry['usage']['costUsd']:.4f}</td>"
            f"<td>{image_note}</td>"
            f"<td>{outputs or '<span class=bad>not published</span>'}</td>"
            "</tr>"
        )
    stage_rows = "".join(
        f"<tr><td>{escape(stage)}</td><td>{s['completed']}/{s['jobs']}</td>"
        f"<td>{s['failed']}</td><td>{s['retries']}</td>"
        f"<td>{s['meanDurationS'] if s['meanDurationS'] is not None else '—'}</td>"
        f"<td>{s['promptTokens'] + s['completionTokens']}</td><td>{s['costUsd']:.4f}</td></tr>"
        for stage, s in report["stages"].items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>k2w run {escape(report["runId"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#212121}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ddd;padding:.3rem .6rem}}
th{{background:#f5f5f5}}.bad{{color:#c62828}}code{{font-size:.9em}}
</style></head><body>
<h1>k2w run <code>{escape(report["runId"])}</code></h1>
<p>{totals["published"]} of {totals["keywords"]} articles published, {totals["failed"]} failed,
{totals["duplicates"]} duplicate keywords dropped, {totals["retries"]} retries,
{totals["promptTokens"] + totals["completionTokens"]} tokens, estimated cost
${totals["costUsd"]:.4f}, {totals["imagesSkipped"]} without a featured image.</p>
<h2>Timeline</h2>
{_timeline_svg(report)}
<h2>Keywords</h2>
<table><tr><th>keyword</th><th>slug</th><th>SEO score</th><th>tokens</th><th>cost (USD)</th>
<th>image</th><th>outputs</th></tr>
{"".join(rows)}
</table>
<h2>Stages</h2>
<table><tr><th>stage</th><th>completed</th><th>failed</th><th>retries</th>
<th>mean duration (s)</th><th>tokens</th><th>cost (USD)</th></tr>
{stage_rows}
</table>
</body></html>
"""


def _relative_link(location: str) -> str:
    if "://" in location:
        return location
    path = Path(location)
    return "/".join(path.parts[-2:]) if len(path.parts) >= 2 else location


def _timeline_svg(report: dict[str, Any]) -> str:
    """Return an inline SVG with one row per keyword and one bar per stage attempt."""
    entries = report["keywords"]
    start = report["createdAt"]
    end = max(
        [report["generatedAt"]]
        + [row.get("finishedAt") or 0 for entry in entries for row in entry["stages"].values()]
    )
    span = max(end - start, 1e-3)
    label_width, chart_width, row_height = 260, 640, 22
    height = row_height * (len(entries) + 1) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + chart_width + 20}" '
        f'height="{height}" role="img" aria-label="stage timeline">'
    ]
    for row_index, entry in enumerate(entries):
        y = row_index * row_height + 4
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(entry["keyword"][:40])}</text>'
        )
        for stage, row in entry["stages"].items():
            if row.get("startedAt") is None:
                continue
            x0 = label_width + (row["startedAt"] - start) / span * chart_width
            x1 = label_width + ((row.get("finishedAt") or end) - start) / span * chart_width
            colour = _COLOURS.get(row["state"], "#9e9e9e")
            parts.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" '
                f'height="{row_height - 6}" fill="{colour}"><title>{html.escape(stage)}: '
                f"{html.escape(row['state'])}, {row.get('durationS')} s, "
                f"{row.get('attempts')} attempt(s)</title></rect>"
            )
    axis_y = len(entries) * row_height + 8
    parts.append(
        f'<text x="{label_width}" y="{axis_y}" font-size="11">0 s</text>'
        f'<text x="{label_width + chart_width - 40}" y="{axis_y}" font-size="11">'
        f"{span:.1f} s</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
