"""The seven K2W stages as job handlers.

Each handler reads what earlier stages stored (their job results, by deterministic job
id), does its one piece of work through a provider, and returns a typed result that the
queue stores as the stage's checkpoint. A finished stage is never run again: its job is
completed, and nothing re-adds it.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ProviderError, UnrecoverableError
from .._events._messages import localize
from .._providers._models import (
    Article,
    ArticleRequest,
    GeneratedImage,
    ImageRequest,
    PublishRequest,
    PublishResult,
)
from .._providers._protocols import ImageGenerator, Publisher, TextGenerator
from .._queue import Backoff, ChildFailurePolicy, FlowJob, Job
from .._queue._engine import Engine
from .._store import JobState, SQLiteStore
from .._text import (
    SUPPORTED_LANGUAGES,
    SeoPage,
    analyze_seo,
    detect_language,
    html_to_text,
    keyword_key,
    make_slug,
    normalize_text,
    sanitize_html,
)
from ._cache import RunCache
from ._models import (
    KEYWORD_STAGES,
    ImageResult,
    KeywordPlan,
    KeywordsResult,
    PublishingResult,
    RunOptions,
    SeoResult,
    Stage,
    TranslationResult,
    job_id,
    queue_name,
)
from ._report import build_report, write_report_files

__all__ = ["StageSettings", "Stages"]

logger = logging.getLogger("k2w.pipeline")


@dataclass(slots=True)
class StageSettings:
    """Attempts and concurrency per stage."""

    attempts: dict[Stage, int]
    concurrency: dict[Stage, int]
    backoff: Backoff


class Stages:
    """The stage handlers, bound to the app's providers and store."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: SQLiteStore,
        text: TextGenerator,
        images: ImageGenerator,
        publisher: Publisher,
        out_dir: Path,
        settings: StageSettings,
    ) -> None:
        self.engine = engine
        self.store = store
        self.text = text
        self.images = images
        self.publisher = publisher
        self.out_dir = out_dir
        self.settings = settings

    def provider_for(self, stage: Stage) -> str:
        """Return the name of the provider a stage uses, for duration statistics."""
        if stage in ("content", "translation"):
            return self.text.name
        if stage == "images":
            return self.images.name
        if stage == "publishing":
            return self.publisher.name
        return "built-in"

    def register(self) -> None:
        """Register every stage's handler on its queue."""
        handlers: dict[Stage, Any] = {
            "keywords": self.keywords,
            "content": self.content,
            "images": self.images_stage,
            "seo": self.seo,
            "translation": self.translation,
            "publishing": self.publishing,
            "analytics": self.analytics,
        }
        for stage, handler in handlers.items():
            self.engine.queue(queue_name(stage)).set_handler(stage, handler)

    # -- reading earlier stages ------------------------------------------------------------

    async def _result(self, run_id: str, stage: Stage, index: int | None = None) -> Any:
        record = await self.store.get_job(job_id(run_id, stage, index))
        if record is None or record.state is not JobState.COMPLETED:
            raise UnrecoverableError(
                f"the {stage} stage of run {run_id} has no stored result to build on"
            )
        return record.result

    @staticmethod
    def _plan(job: Job) -> KeywordPlan:
        # The plan travels in the payload: the keywords job adds the flow from inside its
        # handler, before its own result is stored, so later stages cannot read it there.
        return KeywordPlan.model_validate(job.payload["plan"])

    async def _options(self, run_id: str) -> RunOptions:
        run = await self.store.get_run(run_id)
        if run is None:
            raise UnrecoverableError(f"run {run_id} no longer exists")
        return RunOptions.model_validate(run.options)

    # -- keywords ---------------------------------------------------------------------------

    async def keywords(self, job: Job) -> KeywordsResult:
        """Normalise, de-duplicate and plan the keywords, then add the per-keyword flow."""
        run_id: str = job.payload["run_id"]
        options = await self._options(run_id)
        run = await self.store.get_run(run_id)
        assert run is not None

        plans: list[KeywordPlan] = []
        duplicates: list[str] = []
        seen: set[str] = set()
        for keyword in run.keywords:
            key = keyword_key(keyword)
            if key in seen:
                duplicates.append(keyword)
                continue
            seen.add(key)
            language = options.source_language or detect_language(keyword)
            languages = options.languages or [language]
            plans.append(
                KeywordPlan(
                    index=len(plans),
                    keyword=keyword,
                    slug=make_slug(keyword),
                    language=language,
                    languages=languages,
                    outline=_outline(keyword, language),
                )
            )
        result = KeywordsResult(plans=plans, duplicates=duplicates)
        await self.engine.queue(queue_name("analytics")).add_flow(
            self._flow(run_id, run.user_id, options, plans)
        )
        return result

    def _flow(
        self, run_id: str, user_id: str | None, options: RunOptions, plans: list[KeywordPlan]
    ) -> FlowJob:
        chains = []
        for plan in plans:
            node: FlowJob | None = None
            for stage in KEYWORD_STAGES:
                node = FlowJob(
                    name=stage,
                    payload={
                        "run_id": run_id,
                        "index": plan.index,
                        "plan": plan.model_dump(mode="json"),
                    },
                    queue=queue_name(stage),
                    job_id=job_id(run_id, stage, plan.index),
                    children=[node] if node is not None else [],
                    attempts=self.settings.attempts[stage],
                    backoff=self.settings.backoff,
                    priority=options.priority,
                    workflow_id=run_id,
                    user_id=user_id,
                    # A failed stage stops its own keyword's chain. The last link lets
                    # analytics go on, so other keywords' work is never lost.
                    on_failure=(
                        ChildFailurePolicy.IGNORE
                        if stage == "publishing"
                        else ChildFailurePolicy.FAIL
                    ),
                )
            assert node is not None
            chains.append(node)
        return FlowJob(
            name="analytics",
            payload={"run_id": run_id},
            queue=queue_name("analytics"),
            job_id=job_id(run_id, "analytics"),
            children=chains,
            attempts=self.settings.attempts["analytics"],
            backoff=self.settings.backoff,
            priority=options.priority,
            workflow_id=run_id,
            user_id=user_id,
        )

    # -- per keyword ---------------------------------------------------------------------------

    async def content(self, job: Job) -> Article:
        """Write the article for one keyword."""
        run_id = job.payload["run_id"]
        plan = self._plan(job)
        request = ArticleRequest(
            keyword=plan.keyword, language=plan.language, slug=plan.slug, outline=plan.outline
        )
        article = await self.text.write_article(request, cache=RunCache(self.store, run_id))
        return _sanitized(article)

    async def images_stage(self, job: Job) -> ImageResult:
        """Make the featured image; after the last failed attempt, go on without one."""
        run_id, index = job.payload["run_id"], job.payload["index"]
        plan = self._plan(job)
        article = Article.model_validate(await self._result(run_id, "content", index))
        request = ImageRequest(
            keyword=plan.keyword, title=article.title, slug=plan.slug, language=plan.language
        )
        try:
            image = await self.images.generate_image(request)
        except ProviderError as exc:
            last_attempt = job.attempts_made >= job.max_attempts
            if not last_attempt and not isinstance(exc, UnrecoverableError):
                raise
            options = await self._options(run_id)
            message = localize(
                "image.skipped", options.locale, keyword=plan.keyword, error=str(exc)
            )
            logger.warning("run %s keyword %d: %s", run_id, index, message)
            await job.log(message)
            return ImageResult(skipped=True, error=f"{type(exc).__name__}: {exc}")
        return ImageResult(
            data_b64=base64.b64encode(image.data).decode("ascii"),
            media_type=image.media_type,
            alt_text=image.alt_text,
            generator=image.generator,
            offline=image.offline,
            usage=image.usage,
        )

    async def seo(self, job: Job) -> SeoResult:
        """Sanitise the article's HTML and score it against the SEO checks."""
        run_id, index = job.payload["run_id"], job.payload["index"]
        plan = self._plan(job)
        article = Article.model_validate(await self._result(run_id, "content", index))
        image = ImageResult.model_validate(await self._result(run_id, "images", index))
        html = sanitize_html(article.html)
        report = analyze_seo(
            SeoPage(
                keyphrase=plan.keyword,
                language=plan.language,
                title=article.title,
                meta_description=article.meta_description,
                slug=plan.slug,
                html=html,
                image_alt=image.alt_text,
            )
        )
        return SeoResult(
            title=article.title,
            meta_description=article.meta_description,
            slug=plan.slug,
            html=html,
            score=report.score,
            report=report.model_dump(mode="json"),
        )

    async def translation(self, job: Job) -> TranslationResult:
        """Translate the article into every other language the run asked for."""
        run_id, index = job.payload["run_id"], job.payload["index"]
        plan = self._plan(job)
        article = Article.model_validate(await self._result(run_id, "content", index))
        targets = [language for language in plan.languages if language != plan.language]
        result = TranslationResult()
        cache = RunCache(self.store, run_id)
        for position, language in enumerate(targets):
            translated = _sanitized(
                await self.text.translate_article(article, language, cache=cache)
            )
            result.articles[language] = translated
            result.html[language] = sanitize_html(translated.html)
            await job.update_progress(100 * (position + 1) / len(targets), language=language)
        return result

    async def publishing(self, job: Job) -> PublishingResult:
        """Publish the article in every language of the run, idempotently by slug."""
        run_id, index = job.payload["run_id"], job.payload["index"]
        plan = self._plan(job)
        options = await self._options(run_id)
        article = Article.model_validate(await self._result(run_id, "content", index))
        image_result = ImageResult.model_validate(await self._result(run_id, "images", index))
        seo = SeoResult.model_validate(await self._result(run_id, "seo", index))
        translation = TranslationResult.model_validate(
            await self._result(run_id, "translation", index)
        )
        image = _image(image_result)

        results: list[PublishResult] = []
        for position, language in enumerate(plan.languages):
            if language == plan.language:
                title, description, html = seo.title, seo.meta_description, seo.html
                offline, generator = article.offline, article.generator
            else:
                translated = translation.articles[language]
                title, description = translated.title, translated.meta_description
                html, offline = translation.html[language], translated.offline
                generator = translated.generator
            request = PublishRequest(
                run_id=run_id,
                keyword=plan.keyword,
                language=language,
                slug=plan.slug,
                title=title,
                meta_description=description,
                html=html,
                image=image,
                image_alt=image_result.alt_text,
                status=options.publish_status,
                seo_meta={"focus_keyword": plan.keyword},
                offline=offline,
                generator=generator,
            )
            results.append(await self.publisher.publish(request))
            await job.update_progress(100 * (position + 1) / len(plan.languages), language=language)
        return PublishingResult(results=results)

    # -- analytics ----------------------------------------------------------------------------

    async def analytics(self, job: Job) -> dict[str, Any]:
        """Build the run's report from every stage's stored result and write it out."""
        run_id: str = job.payload["run_id"]
        run = await self.store.get_run(run_id)
        assert run is not None
        jobs = await self.store.list_jobs(workflow_id=run_id, limit=1_000_000)
        report = build_report(run, jobs, now=self.engine.clock.now())
        files = await write_report_files(self.out_dir / run_id, report)
        report["files"] = files
        return report


def _sanitized(article: Article) -> Article:
    """Return ``article`` safe to store and publish: HTML sanitised, plain fields plain.

    Title, meta description and headings are plain text wherever they end up (front
    matter, ``<title>``, WordPress fields, templates that may not escape them), so any
    markup a model put in them is reduced to its visible text.
    """
    return article.model_copy(
        update={
            "title": _plain(article.title),
            "meta_description": _plain(article.meta_description),
            "intro_html": sanitize_html(article.intro_html),
            "sections": [
                section.model_copy(
                    update={"heading": _plain(section.heading), "html": sanitize_html(section.html)}
                )
                for section in article.sections
            ],
        }
    )


def _plain(text: str) -> str:
    return normalize_text(html_to_text(text))


def _image(result: ImageResult) -> GeneratedImage | None:
    if result.skipped or result.data_b64 is None or result.media_type is None:
        return None
    return GeneratedImage.model_validate(
        {
            "data": base64.b64decode(result.data_b64),
            "media_type": result.media_type,
            "alt_text": result.alt_text or "",
            "generator": result.generator or "unknown",
            "offline": result.offline,
        }
    )


def _outline(keyword: str, language: str) -> list[str]:
    """Return the section headings the writer is asked to cover."""
    if language == "vi":
        return [
            f"{keyword} là gì?",
            f"Lợi ích của {keyword}",
            f"Cách chọn {keyword} phù hợp",
            "Những lưu ý quan trọng",
            "Câu hỏi thường gặp",
        ]
    return [
        f"What is {keyword}?",
        f"Benefits of {keyword}",
        f"How to choose {keyword}",
        "Things to watch out for",
        "Frequently asked questions",
    ]


def supported_language_names() -> str:
    """Return the supported language codes as a comma-separated list."""
    return ", ".join(sorted(SUPPORTED_LANGUAGES))
