"""Map-reduce for dialogues longer than the model's window. Nothing is ever cut.

``fits(text)`` answers whether ``text`` (a dialogue or part of one) fits the window *with* the prompt
template around it. Dialogues are split on turn boundaries (lines); a single turn too long for the
window is split on sentence boundaries, then on words, and only as a last resort inside a word. Every
piece of a split turn keeps its ``#PersonN#:`` tag, so each part is a sequence of whole turns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Fits = Callable[[str], bool]
# Summarizes a list of texts; returns the summaries and the number of model calls it used.
SummarizeFn = Callable[[list[str]], tuple[list[str], int]]

_SPEAKER = re.compile(r"^(#[^#\s]+#:\s*)(.*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
MAX_REDUCE_DEPTH = 4


class WindowTooSmallError(ValueError):
    """The prompt template alone leaves no room for any dialogue text."""


def _pack(items: Sequence[str], joiner: str, prefix: str, fits: Fits) -> list[str] | None:
    """Greedily join ``items`` into as few pieces as fit; None if one item alone does not fit."""
    pieces: list[str] = []
    current: list[str] = []
    for item in items:
        candidate = prefix + joiner.join([*current, item])
        if fits(candidate):
            current.append(item)
            continue
        if not current:
            return None
        pieces.append(prefix + joiner.join(current))
        current = [item]
        if not fits(prefix + item):
            return None
    if current:
        pieces.append(prefix + joiner.join(current))
    return pieces


def _split_chars(word: str, prefix: str, fits: Fits) -> list[str]:
    """Last resort for one enormous 'word' (a pasted blob): the longest prefixes that fit."""
    pieces: list[str] = []
    rest = word
    while rest:
        low, high = 1, len(rest)
        if not fits(prefix + rest[:1]):
            raise WindowTooSmallError("max_input_tokens leaves no room for dialogue text after the prompt")
        while low < high:  # binary search for the longest fitting prefix
            mid = (low + high + 1) // 2
            low, high = (mid, high) if fits(prefix + rest[:mid]) else (low, mid - 1)
        pieces.append(prefix + rest[:low])
        rest = rest[low:]
    return pieces


def _split_words(text: str, prefix: str, fits: Fits) -> list[str]:
    words = text.split()
    packed = _pack(words, " ", prefix, fits)
    if packed is not None:
        return packed
    pieces: list[str] = []
    for word in words:  # some word is too long on its own: pack around it, split it by characters
        if fits(prefix + word):
            if pieces and fits(pieces[-1] + " " + word):
                pieces[-1] = pieces[-1] + " " + word
            else:
                pieces.append(prefix + word)
        else:
            pieces.extend(_split_chars(word, prefix, fits))
    return pieces


def split_turn(turn: str, fits: Fits) -> list[str]:
    """Split one turn that is too long: sentences first, then words, then characters."""
    if fits(turn):
        return [turn]
    match = _SPEAKER.match(turn)
    prefix, body = (match.group(1), match.group(2)) if match else ("", turn)
    sentences = [s for s in _SENTENCE_END.split(body.strip()) if s]
    if not sentences:
        raise WindowTooSmallError("max_input_tokens leaves no room for one speaker tag after the prompt")
    packed = _pack(sentences, " ", prefix, fits)
    if packed is not None:
        return packed
    pieces: list[str] = []
    for sentence in sentences:
        if fits(prefix + sentence):
            if pieces and fits(pieces[-1] + " " + sentence):
                pieces[-1] = pieces[-1] + " " + sentence
            else:
                pieces.append(prefix + sentence)
        else:
            pieces.extend(_split_words(sentence, prefix, fits))
    return pieces


def split_dialogue(dialogue: str, fits: Fits) -> list[str]:
    """Split ``dialogue`` into parts of whole turns (lines), each of which ``fits``.

    A turn that does not fit on its own is split with :func:`split_turn` first.
    """
    units: list[str] = []
    for line in dialogue.splitlines():
        if line.strip():
            units.extend(split_turn(line, fits))
    packed = _pack(units, "\n", "", fits)
    assert packed is not None, "every unit fits on its own after split_turn"
    return packed


@dataclass
class MapReduceResult:
    text: str
    parts: int  # leaf parts of the original dialogue
    model_calls: int
    rounds: list[int] = field(default_factory=list)  # number of texts summarized in each round


def map_reduce(dialogue: str, summarize: SummarizeFn, fits: Fits, max_depth: int = MAX_REDUCE_DEPTH) -> MapReduceResult:
    """Summarize the parts, join the part summaries one per line, and summarize again.

    Repeats while the joined summaries are still too long. If they stop shrinking or ``max_depth``
    rounds have passed, the last round's part summaries are returned joined, rather than cut.
    """
    parts = split_dialogue(dialogue, fits)
    result = MapReduceResult(text="", parts=len(parts), model_calls=0)
    previous_length = len(dialogue)
    while True:
        summaries, calls = summarize(parts)
        result.model_calls += calls
        result.rounds.append(len(parts))
        joined = "\n".join(s.strip() for s in summaries if s.strip())
        if fits(joined):
            final, calls = summarize([joined])
            result.model_calls += calls
            result.rounds.append(1)
            result.text = final[0].strip()
            return result
        if len(result.rounds) >= max_depth or len(joined) >= previous_length:
            result.text = joined  # not shrinking: keep every part summary rather than loop or cut
            return result
        previous_length = len(joined)
        parts = split_dialogue(joined, fits)
