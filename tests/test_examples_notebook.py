"""The notebook example: its code cells run in order, as Jupyter would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from support.example_servers import EXAMPLES_DIR, clear_k2w_environment, load_example

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def offline_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_k2w_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


async def test_notebook_cells_complete_run(capsys: pytest.CaptureFixture[str]) -> None:
    runner = load_example("notebook_cells")
    cells = runner.code_cells()

    namespace = await runner.run_cells(cells)

    result = namespace["result"]
    assert result.status == "completed"
    assert result.report["totals"]["published"] == len(namespace["KEYWORDS"])
    printed = capsys.readouterr().out
    assert "100.0%" in printed
    assert "status: completed" in printed
    assert await anyio.Path("k2w-notebook.db").exists()
    assert await anyio.Path("k2w-notebook-out").is_dir()


async def test_notebook_cells_share_one_namespace() -> None:
    runner = load_example("notebook_cells")

    namespace = await runner.run_cells(
        ["import anyio\nvalue = 1", "await anyio.sleep(0)\nvalue += 1"]
    )

    assert namespace["value"] == 2


@pytest.mark.slow
def test_notebook_cells_script_runs(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("K2W_")}

    completed = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "notebook_cells.py")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "status: completed" in completed.stdout
    assert "published 3 of 3 keywords" in completed.stdout
