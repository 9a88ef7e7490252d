"""The documentation stays true to the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_api_reference_is_current() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_readme_links_resolve() -> None:
    for readme in ("README.md", "README.vi.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)\)", text):
            assert (ROOT / target).exists(), f"{readme} links to missing {target}"


def test_readmes_show_same_commands() -> None:
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    vietnamese = (ROOT / "README.vi.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(?:python3 -m venv|bash scripts/check).*$", english, re.MULTILINE)
    assert len(commands) == 2
    for command in commands:
        assert command in vietnamese
