"""The per-run response cache that providers use, kept in the store."""

from __future__ import annotations

from .._store import SQLiteStore

__all__ = ["RunCache"]


class RunCache:
    """Successful provider responses of one run, so a retried stage does not pay twice."""

    def __init__(self, store: SQLiteStore, run_id: str) -> None:
        self._store = store
        self._scope = f"run:{run_id}"

    async def get(self, key: str) -> str | None:
        return await self._store.cache_get(self._scope, key)

    async def put(self, key: str, value: str) -> None:
        await self._store.cache_put(self._scope, key, value)
