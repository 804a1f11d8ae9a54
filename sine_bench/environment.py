"""What a result was computed with: library versions, device, code version.

Cheap to import (no torch at module level): ``sine-bench doctor`` and every run
manifest use it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

# distribution name -> import name
LIBRARIES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "open_clip_torch": "open_clip",
    "lpips": "lpips",
    "stlpips-pytorch": "stlpips_pytorch",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "typer": "typer",
    "pydantic": "pydantic",
    "safetensors": "safetensors",
    "pyyaml": "yaml",
    "bitsandbytes": "bitsandbytes",  # finetune.optimizer: adamw-8bit
}
OPTIONAL_BACKENDS = {
    "open_clip (CLIP metrics)": "open_clip",
    "lpips (standard LPIPS)": "lpips",
    "stlpips_pytorch (shift-tolerant LPIPS)": "stlpips_pytorch",
    "pyarrow (parquet tables)": "pyarrow",
    "peft (LoRA fine-tunes)": "peft",
    "bitsandbytes (8-bit AdamW fine-tunes)": "bitsandbytes",
    "ray (distributed executor)": "ray",
}


def library_versions() -> dict[str, str | None]:
    """Installed version of each library the results depend on (None if absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in LIBRARIES:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def backend_status() -> dict[str, str]:
    """'ok' or the one-line import error for each optional backend (imports them)."""
    status = {}
    for label, module in OPTIONAL_BACKENDS.items():
        try:
            importlib.import_module(module)
            status[label] = "ok"
        except Exception as err:  # any import failure is a finding, not a crash
            status[label] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return status


def device_description() -> dict[str, object]:
    """The compute device torch will use, with enough detail to compare timings."""
    import torch

    info: dict[str, object] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        # the vector ISA torch's CPU kernels use: float results can differ between them
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


def _cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.cache
def git_commit(path: str | Path | None = None) -> str | None:
    """The source tree's commit (with '+dirty' if modified), or None outside git; read
    once per process, so a run records the code it started with even when the checkout
    moves while it runs (call it at the start: ``runner.run``)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")
