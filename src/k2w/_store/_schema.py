"""The SQLite schema and its forward migrations, versioned with ``PRAGMA user_version``.

Each entry of :data:`MIGRATIONS` moves the database from version ``i`` to ``i + 1``.
Released entries are never edited; a change to the schema is a new entry.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = """
CREATE TABLE jobs (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    attempts_made INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    backoff TEXT NOT NULL DEFAULT '{}',
    stalls INTEGER NOT NULL DEFAULT 0,
    max_stalls INTEGER NOT NULL DEFAULT 1,
    run_at REAL NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result TEXT,
    error TEXT,
    timeout REAL,
    parent_id TEXT,
    on_child_failure TEXT NOT NULL DEFAULT 'fail',
    pending_children INTEGER NOT NULL DEFAULT 0,
    dedup_key TEXT,
    workflow_id TEXT,
    user_id TEXT,
    progress REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at REAL,
    lease_token INTEGER NOT NULL DEFAULT 0,
    schedule_id TEXT
);
CREATE INDEX jobs_claim ON jobs (queue, priority, pk) WHERE state = 'waiting';
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE state = 'delayed';
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'active';
CREATE INDEX jobs_state ON jobs (queue, state, finished_at);
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_workflow ON jobs (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_dedup ON jobs (queue, dedup_key)
    WHERE dedup_key IS NOT NULL
      AND state IN ('waiting', 'delayed', 'active', 'waiting-children');

CREATE TABLE job_logs (
    job_id TEXT NOT NULL,
    ts REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, ts);

CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    every REAL,
    cron TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    next_run_at REAL NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    last_job_id TEXT
);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    workflow_id TEXT,
    user_id TEXT,
    job_id TEXT,
    queue TEXT,
    data TEXT NOT NULL
);
CREATE INDEX events_workflow ON events (workflow_id, seq) WHERE workflow_id IS NOT NULL;
CREATE INDEX events_user ON events (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX events_ts ON events (ts);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    options TEXT NOT NULL,
    keywords TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    report TEXT,
    error TEXT
);
CREATE INDEX runs_status ON runs (status, created_at);

CREATE TABLE stage_stats (
    stage TEXT NOT NULL,
    provider TEXT NOT NULL,
    samples INTEGER NOT NULL,
    mean_s REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (stage, provider)
);

CREATE TABLE response_cache (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE workers (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

# Event numbers come from a counter rather than MAX(seq), so pruning every event never
# makes a seq repeat.
_V2 = """
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) SELECT 'event_seq', COALESCE(MAX(seq), 0) FROM events;
"""

# A full index on (queue, state, finished_at) changed on every state change of every job.
# Per-state partial indexes cover the same reads (the waiting, delayed and active states
# already had theirs), and a job now enters one only when it parks or finishes.
# ``finished_at`` is set exactly when a job reaches a final state.
_V3 = """
DROP INDEX jobs_state;
CREATE INDEX jobs_finished ON jobs (queue, state, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_parked ON jobs (queue) WHERE state = 'waiting-children';
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)
