"""A CLIP tokenizer built offline from the BPE vocabulary that ships inside open_clip.

Stable Diffusion's tokenizer is OpenAI CLIP's BPE (49,408 ids). open_clip carries
the same merges list; writing it out as vocab.json + merges.txt gives a
transformers ``CLIPTokenizer`` whose ids equal open_clip's, with no download.
Load it with ``from_pretrained(dir)``: in transformers 5, constructing it from
``vocab_file=/merges_file=`` arguments silently builds an empty tokenizer.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from transformers import CLIPTokenizer

from .fileio import cache_root, make_temp_dir

START, END = "<|startoftext|>", "<|endoftext|>"
N_MERGES = 49152 - 256 - 2  # the merges OpenAI CLIP uses from the 16e6 list


def _merges() -> list[str]:
    from open_clip.tokenizer import default_bpe

    with gzip.open(default_bpe()) as handle:
        lines = handle.read().decode("utf-8").split("\n")
    return lines[1 : N_MERGES + 1]


def clip_vocabulary() -> tuple[dict[str, int], list[str]]:
    """(token -> id, merges) in OpenAI CLIP's order: bytes, bytes + '</w>', merges, specials."""
    from open_clip.tokenizer import bytes_to_unicode

    merges = _merges()
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(m.split()) for m in merges]
    tokens += [START, END]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def write_clip_tokenizer(directory: str | Path, model_max_length: int = 77) -> Path:
    """Write the full CLIP tokenizer (vocab.json, merges.txt, configs) into ``directory``."""
    vocab, merges = clip_vocabulary()
    return write_bpe_tokenizer(directory, vocab, merges, model_max_length)


def write_bpe_tokenizer(
    directory: str | Path, vocab: dict[str, int], merges: list[str], model_max_length: int = 77
) -> Path:
    """Write a CLIP-style BPE vocabulary as files ``CLIPTokenizer.from_pretrained`` reads."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "bos_token": START,
        "eos_token": END,
        "pad_token": END,
        "unk_token": END,
        "do_lower_case": True,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    special = {"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    return directory


def offline_clip_tokenizer() -> CLIPTokenizer:
    """The CLIP tokenizer, written once to the user cache (atomically) and loaded from it."""
    target = cache_root() / "clip-tokenizer"
    if not (target / "tokenizer_config.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_dir(target.parent, prefix=".clip-tokenizer-")
        write_clip_tokenizer(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return CLIPTokenizer.from_pretrained(target)
