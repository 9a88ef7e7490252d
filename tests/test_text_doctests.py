"""The examples in the docstrings of k2w._text run and give the output they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "k2w._text._count",
    "k2w._text._html",
    "k2w._text._language",
    "k2w._text._normalize",
    "k2w._text._seo",
    "k2w._text._slug",
]


@pytest.mark.parametrize("name", MODULES)
def test_text_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))

    assert result.attempted > 0
    assert result.failed == 0
