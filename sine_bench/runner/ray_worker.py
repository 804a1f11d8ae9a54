"""The worker side of the Ray executor: one actor per slot, running stage jobs.

Imported only by ``ray_executor`` (ray is an optional extra).
"""

from __future__ import annotations

import os
import socket
import traceback
from pathlib import Path
from typing import Any

import ray

from ..errors import one_line
from .context import StageCall, WorkerRun

# --------------------------------------------------------------------------- worker side


@ray.remote
class StageWorker:
    """One worker slot. Builds the run's context once per run from the driver's
    ``WorkerRun`` (so the model and the last training stay loaded across jobs and
    stages) and runs the named stage's jobs on it, or a plain function shipped as is."""

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self._token: str | None = None
        self._target: Any = None

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": socket.gethostname()}

    def run(self, token: str, boxed: list, stage: str | None, jobs: list) -> dict:
        """Run ``jobs`` one by one; one job's exception does not cost the others."""
        if token != self._token:
            self._target = None  # a new run: drop the previous one's model first
            shipped = ray.get(boxed[0])
            self._target = shipped.context() if isinstance(shipped, WorkerRun) else shipped
            self._token = token
        call = self._target if stage is None else StageCall(stage, self._target)
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(("ok", call(job)))
            except Exception as err:  # reported to the driver, which fails the job
                last = traceback.extract_tb(err.__traceback__)[-1]
                where = f" at {Path(last.filename).name}:{last.lineno}"
                outcomes.append(("error", f"{one_line(err, typed=True)}{where}"))
        return {"pid": os.getpid(), "outcomes": outcomes}
