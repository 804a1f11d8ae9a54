"""The import stage of a score run: each edit made elsewhere copied into the store.

Its entry (``edits/<key>/edit.png``, key: the file's bytes) is what every later stage
reads, as a computed edit's: the scores, the run directory's copy, ``store gc``. The
image is decoded as sources are (``images.open_image``) and stored as 8-bit RGB PNG,
the pixels scoring sees. A file whose bytes changed since the plan hashed them is
bad input, never stored under the old key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import ClassVar

from ..fileio import file_sha256
from ..images import open_image, save_png_atomic
from .context import RunContext
from .edits_file import EditsFileError
from .keys import imported_edit_key


@dataclass
class ImportStage:
    ctx: RunContext
    name: ClassVar[str] = "import"

    def run(self) -> None:
        """Import every edit the store does not hold yet (checked: a damaged one again)."""
        stats = self.ctx.stage_stats(self.name)
        start = time.perf_counter()
        for key in self.ctx.plan.imported:
            stats.total += 1
            if self.ctx.store.check("edits", key):
                stats.cached += 1
            else:
                written = self.run_job(key)
                stats.computed += written
                stats.cached += 1 - written
        stats.seconds += time.perf_counter() - start

    def run_job(self, key: str) -> int:
        """Store one edit (1 if written, 0 if another run stored it meanwhile)."""
        store, path = self.ctx.store, self.ctx.plan.imported[key]
        with store.lock("edits", key):
            if store.done("edits", key):
                return 0
            sha = file_sha256(path)
            if imported_edit_key(sha) != key:
                raise EditsFileError(f"{path}: changed while it was being scored (rerun)")
            image, notes = open_image(path)
            meta = {"kind": "imported", "file": str(path), "sha256": sha, "decoded": notes}
            with store.write_dir("edits", key) as folder:
                save_png_atomic(image, folder / "edit.png")
                (folder / "edit.json").write_text(json.dumps(meta, indent=1))
        return 1
