"""Write docs/api.md, the API reference, from the docstrings of ``k2w.__all__``.

Usage: python scripts/api_docs.py [--check]

With ``--check`` nothing is written; the exit status is 1 when docs/api.md is out of
date. The test suite runs the check, so the reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import k2w

TARGET = Path(__file__).resolve().parent.parent / "docs" / "api.md"

SECTIONS: list[tuple[str, list[str]]] = [
    ("The app", ["K2W", "K2WConfig", "Run", "RunResult", "RunOptions", "STAGES"]),
    (
        "The job engine",
        [
            "Queue",
            "QueueSettings",
            "Job",
            "JobState",
            "Backoff",
            "RateLimit",
            "FlowJob",
            "ChildFailurePolicy",
            "ChildResult",
            "Schedule",
            "MAX_PRIORITY",
        ],
    ),
    ("Events", ["EventBus", "Event", "Subscription", "localize"]),
    ("Clocks", ["Clock", "SystemClock", "FakeClock"]),
    (
        "Providers",
        [
            "TextGenerator",
            "ImageGenerator",
            "Publisher",
            "ResponseCache",
            "OpenAISettings",
            "OpenAIText",
            "OpenAIImageSettings",
            "OpenAIImages",
            "WordPressSettings",
            "WordPressPublisher",
            "OfflineWriter",
            "PlaceholderImages",
            "FilePublisher",
            "ArticleRequest",
            "Article",
            "Section",
            "ImageRequest",
            "GeneratedImage",
            "PublishRequest",
            "PublishResult",
            "Usage",
        ],
    ),
]


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _members(cls: type) -> list[str]:
    lines = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name in {"model_config", "model_fields"}:
            continue
        target = member
        if isinstance(member, classmethod | staticmethod):
            target = member.__func__
        doc = inspect.getdoc(target) if not isinstance(member, property) else None
        if isinstance(member, property):
            doc = inspect.getdoc(member.fget)
            lines.append(f"- `{name}` (property): {_first_line(doc)}")
        elif callable(target) and doc:
            lines.append(f"- `{name}{_signature(target)}`: {_first_line(doc)}")
    return lines


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def render() -> str:
    """Return the text of docs/api.md."""
    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python scripts/api_docs.py`; do not edit by hand.",
        "Every name here is importable from `k2w`. The exception tree is drawn at the end.",
        "",
    ]
    listed: set[str] = set()
    for title, names in SECTIONS:
        out += [f"## {title}", ""]
        for name in names:
            listed.add(name)
            obj = getattr(k2w, name)
            if inspect.isclass(obj):
                out.append(f"### `{name}`")
                out.append("")
                out.append(inspect.getdoc(obj) or "")
                members = _members(obj)
                if members:
                    out += ["", *members]
            elif callable(obj):
                out.append(f"### `{name}{_signature(obj)}`")
                out += ["", inspect.getdoc(obj) or ""]
            else:
                out.append(f"### `{name}`")
                out += ["", f"`{obj!r}`"]
            out.append("")
    errors = [n for n in k2w.__all__ if n not in listed and n != "__version__"]
    out += ["## Errors", "", "```", inspect.getdoc(sys.modules["k2w._errors"]) or "", "```", ""]
    for name in errors:
        obj = getattr(k2w, name)
        out.append(f"- `{name}`: {_first_line(inspect.getdoc(obj))}")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print("docs/api.md is out of date; run: python scripts/api_docs.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
