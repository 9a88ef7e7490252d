"""The worked example in docs/seo.md matches what analyze_seo returns today.

Run this file as a script to print the example's tables for pasting into docs/seo.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from k2w._text import SeoPage, SeoReport, analyze_seo

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"


def load_example_page() -> SeoPage:
    fields: dict[str, Any] = json.loads((DATA / "seo-article-vi.json").read_text("utf-8"))
    fields["html"] = (DATA / fields.pop("html_file")).read_text("utf-8")
    return SeoPage(**fields)


def format_value(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def render_report(report: SeoReport) -> str:
    lines = [
        f"Score: **{report.score}**",
        "",
        "| check | status | value | weight | message (en) |",
        "|---|---|---|---|---|",
    ]
    for check in report.checks:
        lines.append(
            f"| `{check.id}` | {check.status} | {format_value(check.value)} | {check.weight} "
            f"| {check.message_en} |"
        )

    lines += ["", "| check | message (vi) |", "|---|---|"]
    for check in report.checks:
        lines.append(f"| `{check.id}` | {check.message_vi} |")

    return "\n".join(lines)


def test_seo_docs_example_is_current() -> None:
    docs = (ROOT / "docs" / "seo.md").read_text("utf-8")
    rendered = render_report(analyze_seo(load_example_page()))

    assert rendered in docs


if __name__ == "__main__":
    print(render_report(analyze_seo(load_example_page())))
