"""A publisher that writes each article as Markdown and HTML files.

For run ``R``, language ``L`` and slug ``S`` it writes::

    <out_dir>/R/L/S.md       YAML front matter, a blank line, then the HTML body
    <out_dir>/R/L/S.html     a small, complete HTML5 document
    <out_dir>/R/images/S.EXT the featured image, shared by the languages of a run

Hugo and Jekyll both accept HTML inside a ``.md`` file. Every file is written to a
temporary file in the same directory and then moved over the old one with
``os.replace``, so publishing the same slug again replaces the files and a reader
never sees a half-written file.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import yaml

from .._errors import InvalidInputError
from ._models import PublishRequest, PublishResult

__all__ = ["FilePublisher"]

_SLUG = re.compile(r"[a-z0-9-]{1,200}")
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


class FilePublisher:
    """A :class:`~k2w._providers._protocols.Publisher` writing files under ``out_dir``.

    ``now`` supplies the date written when a request has none; it defaults to the
    current UTC time. Slugs must match ``[a-z0-9-]+``, so no path can leave
    ``out_dir``.
    """

    name = "files"

    def __init__(self, out_dir: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self._out_dir = Path(out_dir)
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def out_dir(self) -> Path:
        """The directory that every run's files are written under."""
        return self._out_dir

    async def publish(self, request: PublishRequest) -> PublishResult:
        """Write the article files (and the image, if any) and return their paths.

        ``created`` is false when the article's Markdown file already existed and was
        replaced. Raises :class:`~k2w._errors.InvalidInputError` for a slug, run id or
        language that is not safe as a path component.
        """
        _check_path_parts(request)
        date = request.date or self._now().isoformat(timespec="seconds")
        return await anyio.to_thread.run_sync(self._write_files, request, date)

    async def aclose(self) -> None:
        """Do nothing: the file publisher has no connections."""

    def __repr__(self) -> str:
        return f"FilePublisher(out_dir={str(self._out_dir)!r})"

    def _write_files(self, request: PublishRequest, date: str) -> PublishResult:
        run_dir = self._out_dir / request.run_id
        article_dir = run_dir / request.language
        markdown_path = article_dir / f"{request.slug}.md"
        html_path = article_dir / f"{request.slug}.html"
        article_dir.mkdir(parents=True, exist_ok=True)

        image_path: Path | None = None
        image_link: str | None = None
        if request.image is not None:
            image_dir = run_dir / "images"
            image_dir.mkdir(parents=True, exist_ok=True)
            image_path = image_dir / f"{request.slug}.{request.image.extension}"
            image_link = f"../images/{image_path.name}"
            _write_atomically(image_path, request.image.data)

        existed = markdown_path.exists()
        _write_atomically(markdown_path, _markdown(request, date, image_link).encode("utf-8"))
        _write_atomically(html_path, _html_document(request, image_link).encode("utf-8"))

        files = [str(markdown_path), str(html_path)]
        if image_path is not None:
            files.append(str(image_path))
        return PublishResult(
            publisher=self.name,
            language=request.language,
            slug=request.slug,
            location=str(markdown_path),
            created=not existed,
            image_location=str(image_path) if image_path is not None else None,
            files=files,
        )


def _check_path_parts(request: PublishRequest) -> None:
    if not _SLUG.fullmatch(request.slug):
        raise InvalidInputError(
            f"slug must be 1 to 200 characters of a-z, 0-9 and '-', got {request.slug!r}"
        )
    if not _RUN_ID.fullmatch(request.run_id):
        raise InvalidInputError(
            f"run_id must be 1 to 100 characters of A-Z, a-z, 0-9, '_' and '-', "
            f"got {request.run_id!r}"
        )
    if not _LANGUAGE.fullmatch(request.language):
        raise InvalidInputError(
            f"language must be a language code such as 'vi' or 'en-US', got {request.language!r}"
        )


def _markdown(request: PublishRequest, date: str, image_link: str | None) -> str:
    front_matter: dict[str, Any] = {
        "title": _nfc(request.title),
        "slug": request.slug,
        "description": _nfc(request.meta_description),
        "keyword": _nfc(request.keyword),
        "language": request.language,
        "date": date,
        "image": image_link,
        "image_alt": _nfc(request.image_alt) if request.image_alt else None,
        "draft": request.status != "publish",
        "offline": request.offline,
        "generator": _generator(request),
    }
    if request.tags:
        front_matter["tags"] = [_nfc(tag) for tag in request.tags]
    if request.categories:
        front_matter["categories"] = [_nfc(category) for category in request.categories]

    dumped = yaml.safe_dump(front_matter, allow_unicode=True, sort_keys=False)
    return f"---\n{dumped}---\n\n{_nfc(request.html).strip()}\n"


def _html_document(request: PublishRequest, image_link: str | None) -> str:
    language = html.escape(request.language)
    title = html.escape(_nfc(request.title))
    description = html.escape(_nfc(request.meta_description))
    generator = html.escape(_generator(request), quote=True)

    image = ""
    if image_link is not None:
        alt = html.escape(_nfc(request.image_alt or request.title))
        image = f'<img src="{html.escape(image_link)}" alt="{alt}">\n'

    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{language}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f'<meta name="description" content="{description}">\n'
        f'<meta name="generator" content="{generator}">\n'
        "</head>\n"
        "<body>\n"
        "<article>\n"
        f"<h1>{title}</h1>\n"
        f"{image}"
        f"{_nfc(request.html).strip()}\n"
        "</article>\n"
        "</body>\n"
        "</html>\n"
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _generator(request: PublishRequest) -> str:
    """Name what wrote the text: the provider and model, or k2w's offline writer."""
    if request.generator:
        return request.generator
    return "k2w (offline)" if request.offline else "k2w"
