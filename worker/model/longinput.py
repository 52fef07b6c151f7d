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


# Summarizes a list of texts; returns the summaries and, per text, the number of the call it went into.
RoundFn = Callable[[list[str]], tuple[list[str], list[int]]]


@dataclass
class _Progress:
    """One dialogue on its way through the rounds: the texts it needs summarized next."""

    texts: list[str]
    result: MapReduceResult
    final: bool  # the next round gives the summary itself (a short dialogue, or the reduce step)
    previous_length: int
    calls: set[int] = field(default_factory=set)
    done: bool = False


def _start(dialogue: str, fits: Fits) -> _Progress:
    if fits(dialogue):
        return _Progress([dialogue], MapReduceResult("", 1, 0), final=True, previous_length=len(dialogue))
    parts = split_dialogue(dialogue, fits)
    return _Progress(parts, MapReduceResult("", len(parts), 0), final=False, previous_length=len(dialogue))


def _advance(task: _Progress, summaries: list[str], fits: Fits, max_depth: int) -> None:
    """After a round: finish, go on to the reduce step, or split the joined part summaries again."""
    task.result.rounds.append(len(task.texts))
    if task.final:
        task.result.text, task.done = summaries[0].strip(), True
        return
    joined = "\n".join(s.strip() for s in summaries if s.strip())
    if fits(joined):
        task.texts, task.final = [joined], True
    elif len(task.result.rounds) >= max_depth or len(joined) >= task.previous_length:
        task.result.text, task.done = joined, True  # not shrinking: keep every part summary rather than loop or cut
    else:
        task.previous_length, task.texts = len(joined), split_dialogue(joined, fits)


def summarize_pooled(
    dialogues: Sequence[str], summarize_round: RoundFn, fits: Fits, max_depth: int = MAX_REDUCE_DEPTH
) -> list[MapReduceResult]:
    """Summarize several dialogues at once: each round pools the texts every unfinished dialogue needs
    (a short dialogue, the parts of a long one, or its joined part summaries for the reduce step) into
    one ``summarize_round`` call, which batches them by length. Each dialogue's result is what
    :func:`map_reduce` gives it alone; ``model_calls`` counts the calls its own texts went into.
    """
    tasks = [_start(dialogue, fits) for dialogue in dialogues]
    while active := [task for task in tasks if not task.done]:
        pooled = [text for task in active for text in task.texts]
        summaries, calls = summarize_round(pooled)
        offset = 0
        for task in active:
            count = len(task.texts)
            task.calls.update(calls[offset : offset + count])
            _advance(task, summaries[offset : offset + count], fits, max_depth)
            offset += count
    for task in tasks:
        task.result.model_calls = len(task.calls)
    return [task.result for task in tasks]


def map_reduce(dialogue: str, summarize: SummarizeFn, fits: Fits, max_depth: int = MAX_REDUCE_DEPTH) -> MapReduceResult:
    """Summarize the parts, join the part summaries one per line, and summarize again.

    Repeats while the joined summaries are still too long. If they stop shrinking or ``max_depth``
    rounds have passed, the last round's part summaries are returned joined, rather than cut.
    """
    rounds = 0

    def one_round(texts: list[str]) -> tuple[list[str], list[int]]:
        nonlocal rounds
        summaries, calls = summarize(texts)
        rounds += 1
        # `summarize` reports only how many calls it used: spread the texts over that many distinct ids
        # (i * calls // n takes every value below `calls` once n >= calls), so the count comes out right.
        return summaries, [rounds * 100_000 + i * calls // len(texts) for i in range(len(texts))]

    return summarize_pooled([dialogue], one_round, fits, max_depth)[0]
