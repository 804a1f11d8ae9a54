"""Test-only backbones, registered under the name 'test-fake' (never a default).

They are cheap deterministic stand-ins with the CLIP / LPIPS / DINO interfaces the metrics
use, so metric plumbing can be tested without any trained network.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from sine_bench.metrics.backbones import register_backbone

DIM = 48


class FakeClip:
    """Images: 4x4 average colours; texts: hashed bag of words; both L2-normalised."""

    def encode_images(self, images01: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(images01.float(), 4).flatten(1) - 0.5
        return F.normalize(pooled, dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), DIM)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % DIM] += 1.0 if (h >> 8) % 2 else -1.0
        return F.normalize(out, dim=-1)


class FakeLpips:
    name = "lpips[test-fake]"

    def __call__(self, a01: torch.Tensor, b01: torch.Tensor) -> torch.Tensor:
        pa, pb = F.adaptive_avg_pool2d(a01, 8), F.adaptive_avg_pool2d(b01, 8)
        return (pa - pb).abs().mean(dim=(1, 2, 3))

    def features(self, images01: torch.Tensor) -> list[torch.Tensor]:
        """Layer activations (edit_score's structure distance): 8x8 pooled colours."""
        return [F.adaptive_avg_pool2d(images01.float() * 2 - 1, 8)]


class FakeDino:
    """Keys: per 8x8 patch, its mean colour and position (a CLS of the image mean)."""

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        patches = F.avg_pool2d(x.float(), 8).flatten(2).transpose(1, 2)  # B, tokens, 3
        cls = x.float().mean(dim=(2, 3))[:, None]
        tokens = torch.cat([cls, patches], dim=1)
        position = torch.linspace(-1, 1, tokens.shape[1])[None, :, None].expand(len(x), -1, 1)
        return torch.cat([tokens, position], dim=-1)


def register_fakes() -> None:
    register_backbone("clip", "test-fake", FakeClip)
    register_backbone("lpips", "test-fake", FakeLpips)
    register_backbone("dino", "test-fake", FakeDino)


FAKE_METRICS = [
    "clip_t[test-fake]",
    "clip_t_src[test-fake]",
    "clip_i[test-fake]",
    "clip_dir[test-fake]",
    "lpips[test-fake]",
    "copy_rate[test-fake+test-fake]",
    "editability_gap[test-fake]",
    "memorization[test-fake]",
    "prompt_insensitivity[test-fake]",
    "seed_collapse[test-fake]",
]


class CountingClip(FakeClip):
    """FakeClip that appends a line to $SINE_BENCH_TEST_CLIP_LOG per image batch it
    encodes (one per clip_t score) and takes a while, so concurrent runs overlap."""

    def encode_images(self, images01: torch.Tensor) -> torch.Tensor:
        import os
        import time

        with open(os.environ["SINE_BENCH_TEST_CLIP_LOG"], "a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(float(os.environ.get("SINE_BENCH_TEST_CLIP_SECONDS", "0.3")))
        return super().encode_images(images01)


def register_counting() -> None:
    register_backbone("clip", "test-counting", CountingClip)
