"""report.html is self-contained and re-renderable from the run directory."""

import re

from typer.testing import CliRunner

from sine_bench.cli import app


def test_report_is_self_contained(small_run):
    _, out, _ = small_run
    html = (out / "report.html").read_text()
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    # source + every cell's edit + the plots
    assert len(sources) >= 2 + 24 + 4
    for needle in ("v \\ K", "tradeoff_over_v", "by v", "UNet evaluations", "Cells"):
        assert needle in html
    # it opens with the frontier; thumbnails link to the full-size edits of the run dir
    assert html.index("<h2>") == html.index("<h2>What the edits do: the frontier</h2>")
    links = re.findall(r'<a href="([^"]+)"><img', html)
    assert links and all((out / link).is_file() for link in links)


def test_report_command_rerenders(small_run, tmp_path):
    _, out, _ = small_run
    (out / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "not a run directory" in bad.output
