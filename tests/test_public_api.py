"""The public surface: every name in ``k2w.__all__`` exists and is documented."""

from __future__ import annotations

import inspect

import k2w


def test_all_names_exist() -> None:
    missing = [name for name in k2w.__all__ if not hasattr(k2w, name)]
    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    assert len(set(k2w.__all__)) == len(k2w.__all__)


def test_public_classes_are_exported() -> None:
    exported = set(k2w.__all__)
    public = {
        name
        for name, value in vars(k2w).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert public - exported == set()


def test_public_names_have_docstrings() -> None:
    undocumented = [
        name
        for name in k2w.__all__
        if (inspect.isclass(getattr(k2w, name)) or inspect.isfunction(getattr(k2w, name)))
        and not inspect.getdoc(getattr(k2w, name))
    ]
    assert undocumented == []


def test_errors_share_one_root() -> None:
    errors = [
        getattr(k2w, name)
        for name in k2w.__all__
        if inspect.isclass(getattr(k2w, name)) and issubclass(getattr(k2w, name), Exception)
    ]
    assert errors
    assert all(issubclass(error, k2w.K2WError) for error in errors)


def test_misuse_errors_are_value_errors() -> None:
    assert issubclass(k2w.InvalidInputError, ValueError)
    assert issubclass(k2w.ConfigurationError, ValueError)
    assert issubclass(k2w.InvalidInputError, k2w.UsageError)
