"""Images in report.html: small inlined thumbnails that link to the full-size files, so
the page opens on its own and stays light at real scale (a 512 px edit inlined whole
costs ~400 kB; its thumbnail a few kB)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

THUMB_SIDE = 160  # longest side of an inlined thumbnail, px


def data_uri(path: Path, max_side: int = THUMB_SIDE) -> str:
    """The image as a data URI: its own PNG bytes when small, else a JPEG thumbnail."""
    with Image.open(path) as img:
        if max(img.size) <= max_side and img.format == "PNG":
            return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        img = img.convert("RGB")
        img.thumbnail((max_side, max_side), Image.LANCZOS)
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def thumb(path: Path, run_dir: Path, title: str = "", cls: str = "cell") -> str:
    """An inlined thumbnail linking to the full-size image (relative to the run dir)."""
    if not path.exists():
        return "<span class=small>missing</span>"
    try:
        href = path.relative_to(run_dir).as_posix()
    except ValueError:
        href = path.as_posix()
    return (
        f'<a href="{html.escape(href)}"><img class="{cls}" title="{html.escape(title)}" '
        f'src="{data_uri(path)}"></a>'
    )


def inline(path: Path, cls: str = "plot") -> str:
    """A plot, inlined whole (a few per report)."""
    if not path.exists():
        return "<span class=small>missing</span>"
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<img class="{cls}" src="data:image/png;base64,{encoded}">'
