"""The article exchange with OpenAI-compatible chat models: prompts and answers.

:func:`write_messages` and :func:`translate_messages` build the prompts, which ask for
one JSON object ``{title, meta_description, intro_html, sections: [{heading, html}]}``.
:func:`payload_from_choice` reads a chat completion choice back into an
:class:`ArticlePayload`, or raises :class:`~k2w._errors.ProviderResponseError` for a
refusal, an empty response, or text without a valid article object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .._errors import ProviderResponseError
from ._http import Endpoint
from ._models import Article, ArticleRequest

__all__ = [
    "MAX_TITLE_LENGTH",
    "ArticlePayload",
    "SectionPayload",
    "clean_title",
    "find_json_object",
    "first_choice",
    "json_schema_format",
    "payload_from_choice",
    "translate_messages",
    "write_messages",
]

MAX_TITLE_LENGTH = 150
"""Maximum length of a title from a model, in characters; longer ones are cut at a word."""

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_FENCED_BLOCK = re.compile(r"```[a-zA-Z]*[ \t]*\n?(.*?)```", re.DOTALL)
_LIST_MARKER = re.compile(r"^(?:[-*•·–—+>]|\(?\d{1,2}[.):])(?:\s+|$)")
_TITLE_LABEL = re.compile(
    r"^(?:title|headline|option|tiêu đề|lựa chọn|phương án)\s*\d*\s*[:：]\s*", re.IGNORECASE
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_QUOTES = "\"'“”‘’«»「」`"
_LANGUAGE_NAMES = {
    "vi": "Vietnamese",
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
    "th": "Thai",
    "id": "Indonesian",
}


class SectionPayload(BaseModel):
    """One section of :class:`ArticlePayload`: a plain-text heading and its HTML."""

    model_config = ConfigDict(extra="ignore")

    heading: str = Field(min_length=1)
    html: str = Field(min_length=1)

    @field_validator("heading", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        return " ".join(value.split()) if isinstance(value, str) else value


class ArticlePayload(BaseModel):
    """The article object a model returns; ``keyword`` is set only by translations."""

    model_config = ConfigDict(extra="ignore")

    title: str
    meta_description: str = Field(min_length=1)
    intro_html: str = ""
    sections: list[SectionPayload] = Field(min_length=1)
    keyword: str | None = None

    @field_validator("title", mode="before")
    @classmethod
    def _clean_title(cls, value: object) -> str:
        return clean_title(value)

    @field_validator("meta_description", "keyword", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        return " ".join(value.split()) if isinstance(value, str) else value


def clean_title(value: object) -> str:
    """Return one clean, single-line title from what a model gave as its title.

    A list of candidates (a JSON array, or lines with bullets or numbers) yields the
    first usable candidate, without its bullet, number, label or quotes. Lead-in lines
    ending in a colon are skipped. Titles over :data:`MAX_TITLE_LENGTH` characters are
    cut at a word. Raises ``ValueError`` when no candidate contains a letter or digit.
    """
    if isinstance(value, str):
        candidates = value.splitlines()
    elif isinstance(value, list):
        candidates = [item for item in value if isinstance(item, str)]
    else:
        raise ValueError(f"title must be a string, got {type(value).__name__}")

    for candidate in candidates:
        title = _clean_title_line(candidate)
        if title:
            return _cap_title(title)
    raise ValueError("title has no usable text")


def find_json_object(text: str) -> dict[str, Any] | None:
    """Return the first top-level JSON object in ``text``, or ``None`` if there is none.

    Models wrap JSON in Markdown fences, put prose before or after it, or prefix a
    ``<think>`` block; all of that is skipped. Objects inside a fenced block are tried
    before the rest of the text.
    """
    text = _THINK_BLOCK.sub("", text)
    chunks = [match.group(1) for match in _FENCED_BLOCK.finditer(text)]
    chunks.append(text)

    for chunk in chunks:
        found = _first_object_in(chunk)
        if found is not None:
            return found
    return None


def _first_object_in(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is None:
            # A brace that is never closed, such as one in prose before the object.
            start = text.find("{", start + 1)
            continue
        try:
            value = json.loads(text[start : end + 1])
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        # Not JSON: skip the whole balanced span, so nested objects are never taken
        # for the top-level one.
        start = text.find("{", end + 1)
    return None


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def first_choice(body: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """Return the first choice of a chat completion, or raise ProviderResponseError."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderResponseError(
            f"chat completion from model {endpoint.model!r} at {endpoint.base_url} has no choices"
        )
    choice: dict[str, Any] = choices[0]
    return choice


def payload_from_choice(choice: Mapping[str, Any], endpoint: Endpoint) -> ArticlePayload:
    """Validate the article in a choice whose ``finish_reason`` is not ``"length"``.

    Raises :class:`~k2w._errors.ProviderResponseError` naming the reason: a refusal, a
    content filter stop, empty content, no JSON object, or an invalid article.
    """
    source = f"chat completion from model {endpoint.model!r} at {endpoint.base_url}"
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}

    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        raise ProviderResponseError(f"{source} is a refusal: {_excerpt(refusal, 200)!r}")

    finish_reason = choice.get("finish_reason")
    if finish_reason == "content_filter":
        raise ProviderResponseError(f"{source} was stopped by the server's content filter")

    content = _content_text(message.get("content"))
    if not content.strip():
        raise ProviderResponseError(
            f"{source} has no content (finish_reason {finish_reason!r}); a reasoning model "
            "may have spent its whole output budget on reasoning, so raise max_output_tokens"
        )

    data = find_json_object(content)
    if data is None:
        raise ProviderResponseError(
            f"{source} contains no JSON object; it began with {_excerpt(content, 120)!r}"
        )
    data = _unwrap_article(data)
    try:
        return ArticlePayload.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'article'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ProviderResponseError(f"{source} is not a valid article: {problems}") from exc


def _unwrap_article(data: dict[str, Any]) -> dict[str, Any]:
    # Some models nest the article one level down, as {"article": {...}}.
    if "title" not in data and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict):
            return inner
    return data


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "".join(parts)
    return ""


def _clean_title_line(line: str) -> str:
    text = " ".join(_CONTROL_CHARACTERS.sub(" ", line).split())
    text = text.replace("**", "").replace("__", "").lstrip("#").strip()
    text = _LIST_MARKER.sub("", text, count=1)
    text = _TITLE_LABEL.sub("", text, count=1)
    text = text.strip().strip(_QUOTES).strip()

    if text.endswith((":", "：")):
        return ""
    if not any(char.isalnum() for char in text):
        return ""
    return text


def _cap_title(title: str) -> str:
    if len(title) <= MAX_TITLE_LENGTH:
        return title
    cut = title[:MAX_TITLE_LENGTH]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—")


def write_messages(request: ArticleRequest) -> list[dict[str, str]]:
    """Build the chat messages that ask for the article ``request`` describes."""
    language = _language_name(request.language)
    lines = [
        f"Write an original web article in {language} (language code {request.language}).",
        f"Keyword: {request.keyword}",
        f"Length: at least {request.min_words} words.",
    ]
    if request.outline:
        lines.append("Use these H2 headings, in this order, adapting their wording if needed:")
        lines.extend(f"- {heading}" for heading in request.outline)
    lines.append(_ARTICLE_SHAPE)
    return [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def translate_messages(article: Article, target_language: str) -> list[dict[str, str]]:
    """Build the chat messages that ask for ``article`` in ``target_language``."""
    source = _language_name(article.language)
    target = _language_name(target_language)
    original = {
        "title": article.title,
        "meta_description": article.meta_description,
        "intro_html": article.intro_html,
        "sections": [{"heading": s.heading, "html": s.html} for s in article.sections],
    }
    lines = [
        f"Translate this web article from {source} into {target} "
        f"(language code {target_language}).",
        f"Keyword: {article.keyword}",
        f"Target language: {target_language}",
        "Keep every HTML tag and the structure; translate only the text.",
        f'Also return "keyword": the keyword as people would search for it in {target}.',
        _ARTICLE_SHAPE,
        "The article as JSON:",
        json.dumps(original, ensure_ascii=False),
    ]
    return [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


_SYSTEM_PROMPT = (
    "You are an experienced web writer and editor. You write accurate, well-structured, "
    "original articles. You reply with exactly one JSON object and nothing else: no "
    "Markdown fences, no comments before or after it."
)

_ARTICLE_SHAPE = """Reply with one JSON object with these keys:
"title": one title on a single line, at most 65 characters, containing the keyword;
"meta_description": 120 to 156 characters, containing the keyword;
"intro_html": one or two <p> paragraphs that introduce the topic;
"sections": a list of 5 or 6 objects {"heading": plain-text H2 heading, "html": the \
section body using only <p>, <ul>, <ol>, <li>, <strong>, <em>, without headings}."""


def json_schema_format(*, translate: bool) -> dict[str, Any]:
    """Return the ``response_format`` value of type ``json_schema`` for the article."""
    section = {
        "type": "object",
        "properties": {"heading": {"type": "string"}, "html": {"type": "string"}},
        "required": ["heading", "html"],
        "additionalProperties": False,
    }
    properties: dict[str, Any] = {
        "title": {"type": "string"},
        "meta_description": {"type": "string"},
        "intro_html": {"type": "string"},
        "sections": {"type": "array", "items": section},
    }
    if translate:
        properties["keyword"] = {"type": "string"}
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": "article", "strict": True, "schema": schema},
    }


def _language_name(code: str) -> str:
    base = code.split("-")[0].split("_")[0].lower()
    return _LANGUAGE_NAMES.get(base, code)


def _excerpt(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
