"""Checks on the async runtime k2w is started in."""

from __future__ import annotations

import asyncio

from ._errors import UnsupportedBackendError

__all__ = ["require_asyncio"]


def require_asyncio(operation: str) -> None:
    """Raise UnsupportedBackendError unless the caller runs on an asyncio event loop.

    Under trio there is no running asyncio loop, and aiosqlite would fail later with the
    less helpful "no current event loop". This check names the fix instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UnsupportedBackendError(
            f"{operation} needs an asyncio event loop, and none is running (under trio, for "
            "example): k2w stores jobs with aiosqlite, which works only on asyncio. Run k2w "
            "with asyncio.run(main()) or anyio.run(main, backend='asyncio')"
        ) from None
