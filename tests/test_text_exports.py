"""The public names of k2w._text: a sorted, honest __all__ with docstrings."""

from __future__ import annotations

import inspect

import k2w._text as text_module


def isort_key(name: str) -> tuple[int, str]:
    # The order that ruff's RUF022 enforces: constants, then classes, then the rest.
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def test_text_all_is_sorted() -> None:
    assert list(text_module.__all__) == sorted(text_module.__all__, key=isort_key)


def test_text_all_has_no_duplicates() -> None:
    assert len(set(text_module.__all__)) == len(text_module.__all__)


def test_text_all_names_exist() -> None:
    for name in text_module.__all__:
        assert hasattr(text_module, name), name


def test_text_public_names_are_in_all() -> None:
    public = {
        name
        for name, value in vars(text_module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }

    assert public == set(text_module.__all__)


def test_text_callables_have_docstrings() -> None:
    for name in text_module.__all__:
        value = getattr(text_module, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name


def test_text_module_docstring() -> None:
    assert text_module.__doc__
