"""Run progress and time remaining, computed from the state of a run's jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .._store import JobRecord, JobState
from ._models import KEYWORD_STAGES, STAGE_WEIGHTS, Stage

__all__ = ["RunProgress", "estimate_remaining", "measure_progress"]


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Overall percent done and each keyword's share, 0–100."""

    overall: float
    per_keyword: dict[int, float]


def _stage_of(job: JobRecord) -> Stage | None:
    name = job.name
    return name if name in STAGE_WEIGHTS else None


def _done_fraction(job: JobRecord) -> float:
    if job.state.is_final:
        return 1.0
    if job.state is JobState.ACTIVE:
        return min(max(job.progress, 0.0), 99.0) / 100.0
    return 0.0


def _index_of(job: JobRecord) -> int | None:
    parts = job.id.rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def measure_progress(jobs: Sequence[JobRecord], keyword_count: int | None) -> RunProgress:
    """Return how far a run is, weighting each stage by :data:`STAGE_WEIGHTS`.

    A failed or cancelled stage counts as done: its keyword will not go further, and
    the bar must still be able to reach 100.
    """
    overall = 0.0
    per_keyword: dict[int, float] = {}
    keyword_total = sum(STAGE_WEIGHTS[stage] for stage in KEYWORD_STAGES)
    for job in jobs:
        stage = _stage_of(job)
        if stage is None:
            continue
        fraction = _done_fraction(job)
        if stage in ("keywords", "analytics"):
            overall += STAGE_WEIGHTS[stage] * fraction
            continue
        index = _index_of(job)
        if index is None or not keyword_count:
            continue
        weight = STAGE_WEIGHTS[stage]
        overall += weight / keyword_count * fraction
        per_keyword[index] = per_keyword.get(index, 0.0) + 100 * weight / keyword_total * fraction
    return RunProgress(min(overall, 100.0), per_keyword)


def estimate_remaining(
    jobs: Sequence[JobRecord],
    *,
    keyword_count: int | None,
    means: Mapping[Stage, float],
    concurrency: Mapping[Stage, int],
    now: float,
) -> float | None:
    """Estimate seconds until the run ends, from measured mean stage durations.

    Returns None while a stage the run still needs has no measured duration. The
    estimate is the larger of two bounds: the slowest keyword's remaining chain, and, for
    each stage, its queued work divided by its concurrency plus the stages after it.
    """
    if keyword_count is None:
        return None
    remaining_by_stage: dict[Stage, float] = {}
    chain_by_keyword: dict[int, float] = {}
    analytics_left = True
    for job in jobs:
        stage = _stage_of(job)
        if stage is None or job.state.is_final:
            if stage == "analytics":
                analytics_left = False
            continue
        if stage not in means:
            return None
        left = means[stage]
        if job.state is JobState.ACTIVE and job.started_at is not None:
            left = max(means[stage] * 0.1, means[stage] - (now - job.started_at))
        remaining_by_stage[stage] = remaining_by_stage.get(stage, 0.0) + left
        index = _index_of(job)
        if index is not None:
            chain_by_keyword[index] = chain_by_keyword.get(index, 0.0) + left

    missing_stages = not any(_stage_of(job) in KEYWORD_STAGES for job in jobs)
    if missing_stages:
        # The keywords stage has not planned the run yet: estimate a full chain for each.
        for stage in (*KEYWORD_STAGES, "analytics"):
            if stage not in means:
                return None
        for stage in KEYWORD_STAGES:
            remaining_by_stage[stage] = means[stage] * keyword_count
        chain = sum(means[stage] for stage in KEYWORD_STAGES)
        chain_by_keyword = dict.fromkeys(range(keyword_count), chain)

    # A stage that must still work through its queue finishes its last job no sooner
    # than its queued work divided by its concurrency. That last keyword then still goes
    # through every later stage.
    pipeline_bound = 0.0
    for position, stage in enumerate(KEYWORD_STAGES):
        total = remaining_by_stage.get(stage)
        if total is None:
            continue
        parallel = max(1, min(concurrency.get(stage, 1), keyword_count or 1))
        after = sum(means.get(later, 0.0) for later in KEYWORD_STAGES[position + 1 :])
        pipeline_bound = max(pipeline_bound, total / parallel + after)
    chain_bound = max(chain_by_keyword.values(), default=0.0)
    tail = means.get("analytics", 0.0) if analytics_left else 0.0
    return max(pipeline_bound, chain_bound) + tail
