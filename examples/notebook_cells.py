"""Run the code cells of ``examples/notebook.ipynb`` in order, without Jupyter.

    python examples/notebook_cells.py [NOTEBOOK]

The cells use top-level ``await`` and ``async with`` as Jupyter allows. This script
compiles each cell with :data:`ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`, as IPython does, and
awaits the cells that need it on one asyncio loop, with one namespace for all cells.
Files the cells write go to the current directory.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NOTEBOOK = Path(__file__).with_name("notebook.ipynb")


def code_cells(notebook: Path = NOTEBOOK) -> list[str]:
    """Return the source of each code cell of ``notebook``, in order."""
    document = json.loads(notebook.read_text(encoding="utf-8"))
    sources = []
    for cell in document["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"]
            sources.append(source if isinstance(source, str) else "".join(source))
    return sources


async def run_cells(
    cells: Sequence[str], namespace: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``cells`` in order in one namespace, awaiting those with top-level ``await``.

    Returns the namespace, so a caller can look at the variables the cells set.
    """
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    for number, source in enumerate(cells, start=1):
        code = compile(source, f"<cell {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        # A cell with top-level await compiles to a coroutine; evaluating it returns one.
        outcome = eval(code, namespace)
        if inspect.iscoroutine(outcome):
            await outcome
    return namespace


def main() -> None:
    """Run the notebook given on the command line, or ``notebook.ipynb`` beside this file."""
    parser = argparse.ArgumentParser(description="Run a notebook's code cells in order.")
    parser.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK)
    args = parser.parse_args()
    asyncio.run(run_cells(code_cells(args.notebook)))


if __name__ == "__main__":
    main()
