"""Method names to methods (one ``Registry``), with did-you-mean errors; import-light."""

from __future__ import annotations

from collections.abc import Sequence

from ..registry import Registry, suggest
from .base import EditJob, FinetuneJob, Method, MethodError

# a method's module imports torch only inside its functions; each is built once
METHODS: Registry[Method] = Registry(
    "method",
    MethodError,
    {
        "sine": "sine_bench.methods.sine:Sine",
        "pretrained": "sine_bench.methods.pretrained:Pretrained",
        "dreambooth": "sine_bench.methods.dreambooth:DreamBooth",
        "sdedit": "sine_bench.methods.sdedit:SDEdit",
        "ddim-inversion": "sine_bench.methods.ddim_inversion:DDIMInversion",
        "imagic": "sine_bench.methods.imagic:Imagic",
    },
    build=lambda cls: cls(),
)


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str) -> Method:
    """The registered method ``name``; MethodError with a suggestion otherwise."""
    return METHODS.get(name)


def register_method(name: str, target: str) -> None:
    """Add a method (``module:Class``); for plug-ins and tests."""
    METHODS.register(name, target)


def check_knob(method: Method, name: str, value):
    """The validated value of ``method``'s knob ``name``; MethodError with a suggestion."""
    names = [k.name for k in method.knobs]
    if name not in names:
        hint = suggest(name, names) if names else "it has no knobs"
        raise MethodError(f"method {method.name!r} has no knob {name!r} ({hint})")
    try:
        return method.knob(name).check(value)
    except ValueError as err:
        raise MethodError(f"method {method.name!r}: {err}") from None


def training_steps(job: FinetuneJob) -> int:
    """Forward + backward steps of one training job."""
    if job.trainer == "sine":
        return int(job.settings["steps"])
    return get_method(job.trainer).training_steps(job.settings)


def count_evaluations(jobs: Sequence[EditJob]) -> dict[str, int]:
    """UNet evaluations of jobs run together (one unit), by the methods that sample them."""
    total = {"naive": 0, "shared": 0}
    samplers = sorted({j.sampler for j in jobs})
    for sampler in samplers:
        counts = get_method(sampler).count([j for j in jobs if j.sampler == sampler])
        total = {k: total[k] + counts[k] for k in total}
    return total
