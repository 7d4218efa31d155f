"""Words for filters and numbers: "the large red circle", "a red object", "two squares"."""

from __future__ import annotations

from jarvl.data.synthetic.scene import Filter

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def noun_phrase(f: Filter, plural: bool = False) -> str:
    """``f`` as a bare noun phrase: "large red circle", "red objects", "squares"."""
    noun = f.shape or "object"
    words = [w for w in (f.size, f.color) if w] + [noun + "s" if plural else noun]
    return " ".join(words)


def the(f: Filter) -> str:
    """Definite reference: "the large red circle"."""
    return "the " + noun_phrase(f)


def a(f: Filter) -> str:
    """Indefinite reference with the right article: "a red circle", "an orange square"."""
    phrase = noun_phrase(f)
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def number_word(n: int) -> str:
    """0..10 as words ("no" for zero), digits beyond."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)
