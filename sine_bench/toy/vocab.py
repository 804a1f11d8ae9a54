"""The toy world's tokenizer: OpenAI CLIP's BPE restricted to the toy vocabulary.

Keeps every byte token (so any text still tokenizes, unknown words falling back to
characters, as "sks" does in real SD) plus exactly the merges CLIP's BPE applies to
the toy words, renumbered compactly (~650 ids instead of 49,408). Because the kept
merges include every merge BPE would choose for those words, they tokenize into the
same pieces as with the full vocabulary.
"""

from __future__ import annotations

from pathlib import Path

from ..tokenizer import END, START, clip_vocabulary, write_bpe_tokenizer
from .scenes import COLORS, SHAPES, SIZES, TEXTURES

# Words the toy captions, SINE's training prompts and typical edit prompts use.
EXTRA_WORDS = tuple(
    "a an and on of the photo painting sks background with in one two three "
    "small large big tiny , . object shape image picture scene".split()
)


def toy_words() -> list[str]:
    return sorted(set(EXTRA_WORDS) | set(COLORS) | set(SHAPES) | set(SIZES) | set(TEXTURES))


def _merges_used(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """The merges CLIP's BPE applies to one word (lowest-rank pair first, repeatedly)."""
    symbols = list(word[:-1]) + [word[-1] + "</w>"]
    used = []
    while len(symbols) > 1:
        pairs = {(symbols[i], symbols[i + 1]) for i in range(len(symbols) - 1)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        used.append(best)
        merged, i = [], 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return used


def toy_vocabulary() -> tuple[dict[str, int], list[str]]:
    """(token -> id, merges) of the reduced BPE; specials last so EOT has the top id."""
    full_vocab, full_merges = clip_vocabulary()
    ranks = {tuple(m.split()): i for i, m in enumerate(full_merges)}
    needed: set[tuple[str, str]] = set()
    for word in toy_words():
        needed.update(_merges_used(word, ranks))
    merges = sorted(needed, key=ranks.__getitem__)
    byte_tokens = [t for t, i in sorted(full_vocab.items(), key=lambda kv: kv[1])][:512]
    tokens = byte_tokens + ["".join(m) for m in merges] + [START, END]
    return {t: i for i, t in enumerate(tokens)}, [" ".join(m) for m in merges]


def write_toy_tokenizer(directory: str | Path, model_max_length: int = 77) -> Path:
    """vocab.json, merges.txt and config for a transformers CLIPTokenizer."""
    vocab, merges = toy_vocabulary()
    return write_bpe_tokenizer(directory, vocab, merges, model_max_length)
