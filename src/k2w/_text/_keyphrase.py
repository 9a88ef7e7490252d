"""Finding a keyphrase in text: whole words, case-insensitive, accent-exact.

Both sides are split with :func:`split_words`, each word is case-folded and given the newer
Vietnamese tone mark placement, and the keyphrase must then appear as a run of whole words.
So "Máy lọc" matches "máy lọc" and "MÁY LỌC", "hòa" matches "hoà", but "may loc" does not
match "máy lọc" and "lọc" does not match inside "lọcx". Punctuation between words is
ignored, so "máy lọc, không khí" contains "máy lọc không khí".
"""

from __future__ import annotations

from k2w._text._count import split_words
from k2w._text._normalize import canonical_tone_placement

__all__ = ["count_phrase", "phrase_words"]


def phrase_words(text: str, language: str) -> list[str]:
    """Split ``text`` into the comparable form of its words."""
    return [canonical_tone_placement(word.casefold()) for word in split_words(text, language)]


def count_phrase(phrase: list[str], words: list[str]) -> int:
    """Count the non-overlapping runs of ``words`` equal to ``phrase``.

    Both arguments come from :func:`phrase_words`. An empty phrase occurs zero times.
    """
    size = len(phrase)
    if size == 0:
        return 0

    occurrences = 0
    position = 0
    while position + size <= len(words):
        if words[position : position + size] == phrase:
            occurrences += 1
            position += size
        else:
            position += 1

    return occurrences
