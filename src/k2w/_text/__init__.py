"""Vietnamese-aware text helpers: normalisation, slugs, counts, HTML and SEO checks.

Every function accepts NFC and NFD text alike and returns NFC.
"""

from k2w._text._count import count_syllables, count_words, split_words
from k2w._text._html import ALLOWED_TAGS, ALLOWED_URL_SCHEMES, html_to_text, sanitize_html
from k2w._text._language import SUPPORTED_LANGUAGES, detect_language, validate_language
from k2w._text._normalize import (
    MAX_KEYWORD_LENGTH,
    InvalidKeywordError,
    keyword_key,
    normalize_text,
    validate_keyword,
)
from k2w._text._seo import analyze_seo
from k2w._text._seo_models import CheckStatus, SeoCheck, SeoPage, SeoReport
from k2w._text._slug import make_slug

__all__ = [
    "ALLOWED_TAGS",
    "ALLOWED_URL_SCHEMES",
    "MAX_KEYWORD_LENGTH",
    "SUPPORTED_LANGUAGES",
    "CheckStatus",
    "InvalidKeywordError",
    "SeoCheck",
    "SeoPage",
    "SeoReport",
    "analyze_seo",
    "count_syllables",
    "count_words",
    "detect_language",
    "html_to_text",
    "keyword_key",
    "make_slug",
    "normalize_text",
    "sanitize_html",
    "split_words",
    "validate_keyword",
    "validate_language",
]
