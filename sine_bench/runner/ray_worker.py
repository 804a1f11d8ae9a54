"""The worker side of the Ray executor: one actor per slot, running ``Stages`` methods.

Imported only by ``ray_executor`` (ray is an optional extra).
"""

from __future__ import annotations

import os
import socket
import traceback
from pathlib import Path
from typing import Any

import ray

from .executors import ClusterError

# --------------------------------------------------------------------------- worker side


@ray.remote
class StageWorker:
    """One worker slot. Builds the driver's ``Stages`` once per run (so the model and the
    last fine-tune stay loaded across jobs and stages) and runs its methods on jobs."""

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self._token: str | None = None
        self._target: Any = None

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": socket.gethostname()}

    def run(self, token: str, boxed_context: list, method: str | None, jobs: list) -> dict:
        """Run ``jobs`` one by one; one job's exception does not cost the others."""
        if token != self._token:
            self._target = None  # a new run: drop the previous one's model first
            self._target = _build_target(ray.get(boxed_context[0]))
            self._token = token
        target = self._target
        call = target if method is None else getattr(target, method)
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(("ok", call(job)))
            except Exception as err:  # reported to the driver, which fails the job
                last = traceback.extract_tb(err.__traceback__)[-1]
                where = f" at {Path(last.filename).name}:{last.lineno}"
                outcomes.append(("error", f"{one_line(err)}{where}"))
        return {"pid": os.getpid(), "outcomes": outcomes}


def _build_target(context: dict) -> Any:
    """The object whose methods run the jobs: the driver's ``Stages`` rebuilt on the plan
    and store, or a plain function shipped as is."""
    if context["kind"] == "function":
        return context["fn"]
    from .. import __version__
    from .executors import LocalExecutor
    from .store import Store

    if context["version"] != __version__:
        raise ClusterError(
            f"worker has sine-bench {__version__}, the driver {context['version']}: "
            "install the same version on every node"
        )
    if os.path.isdir(context["cwd"]):  # relative paths in the plan mean the driver's
        os.chdir(context["cwd"])
    return context["cls"](context["plan"], Store(context["root"]), LocalExecutor(progress=False))


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
