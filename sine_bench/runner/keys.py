"""Content hashes that name every cached artifact.

A key covers everything that can change the artifact's bytes: the source image's
bytes, the base model's identity (its weights, not its name), the settings, the seed
and ``sine_bench.METHOD_VERSION``. Changing any of them gives a new key, so a cached
result can never be served for different settings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import METHOD_VERSION
from ..file_digests import file_sha256s


def digest(payload: Any) -> str:
    """sha256 of the canonical JSON of ``payload`` (sorted keys), first 20 hex digits."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _dir_identity(folder: Path) -> str:
    """Hash of every file's relative path and bytes under a diffusers directory.

    A checkpoint folder holds gigabytes and is named on every plan, so each file's
    sha256 comes from ``file_digests`` (hashed once per version of the file); the value
    is the same as hashing every file here, so keys do not depend on the cache."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    shas = file_sha256s(paths)
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(folder)).encode())
        h.update(shas[path].encode())
    return h.hexdigest()


def _hub_identity(name: str, revision: str) -> str:
    """The commit a hub revision resolves to in the local cache, else the revision name."""
    from huggingface_hub import constants  # HF_HUB_CACHE, HF_HOME or the default

    cache = Path(constants.HF_HUB_CACHE)
    ref = cache / f"models--{name.replace('/', '--')}" / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else revision


def model_identity(
    name: str, revision: str = "main", seed: int = 0, dtype: str = "float32"
) -> dict[str, str]:
    """What distinguishes one base model's weights (and the precision it computes in:
    a bfloat16 run's fine-tunes and edits differ from a float32 run's) from another's."""
    identity = _weights_identity(name, revision, seed)
    return identity if dtype == "float32" else identity | {"dtype": dtype}


def _weights_identity(name: str, revision: str, seed: int) -> dict[str, str]:
    if name == "tiny-random":
        from ..models.tiny_random import build_tiny_random

        model = build_tiny_random(seed)
        configs = {
            "unet": dict(model.unet.config),
            "vae": dict(model.vae.config),
            "text": model.text_encoder.config.to_dict(),
        }
        # private entries (e.g. diffusers' _use_default_values, a set) are bookkeeping
        configs = {
            part: {
                k: v
                for k, v in cfg.items()
                if not k.startswith("_") and k != "transformers_version"
            }
            for part, cfg in configs.items()
        }
        weights = hashlib.sha256()
        for module in (model.unet, model.vae, model.text_encoder):
            for name, tensor in sorted(module.state_dict().items()):
                weights.update(name.encode())
                weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {
            "kind": "tiny-random",
            "seed": str(seed),
            "config": digest(configs),
            "weights": weights.hexdigest()[:20],
        }
    if name == "toy":
        from ..model_family import TOY_DIR

        return {"kind": "toy", "weights": _dir_identity(TOY_DIR)}
    if Path(name).is_dir():
        return {"kind": "local", "weights": _dir_identity(Path(name))}
    return {"kind": "hub", "id": name, "revision": _hub_identity(name, revision)}


def finetune_key(
    image_sha: str, model_id: dict, prompt: str, settings: dict, preparation: dict | None = None
) -> str:
    """``preparation``: how the training input is made from the file where that is not the
    identity (``methods.preparation``); absent otherwise, so such keys stay as they are."""
    identity = {
        "stage": "finetune",
        "method_version": METHOD_VERSION,
        "image": image_sha,
        "model": model_id,
        "prompt": prompt,
        "settings": settings,
    }
    if preparation:
        identity["preparation"] = preparation
    return digest(identity)


def edit_key(base: str, prompt: str, settings: dict) -> str:
    """``base`` is the fine-tune key (or the model identity digest for pretrained-only)."""
    return digest(
        {
            "stage": "edit",
            "method_version": METHOD_VERSION,
            "base": base,
            "prompt": prompt,
            "settings": settings,
        }
    )


def imported_edit_key(image_sha: str) -> str:
    """An edit made elsewhere (``sine-bench score``): its file's bytes are all it is."""
    return digest({"stage": "imported-edit", "image": image_sha})


def score_key(edit: str, metric: str, context: dict) -> str:
    return digest({"stage": "score", "edit": edit, "metric": metric, "context": context})
