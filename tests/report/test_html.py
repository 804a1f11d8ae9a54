"""report.html is self-contained and re-renderable from the run directory (a synthetic
run directory: rendering reads files only, so no protocol has to run)."""

import html as html_text
import re

from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report.html import write_report
from tests.report.synthetic import report_run


def test_report_is_self_contained(tmp_path):
    out = report_run(tmp_path / "run")
    page = write_report(out).read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    # every source and every cell's edit, and the plot
    assert len(sources) >= 2 + 12 + 1
    for needle in ("v \\ K", "tradeoff_over_v", "by v", "UNet evaluations", "Cells"):
        assert needle in page
    # it opens with the frontier; thumbnails link to the full-size edits of the run dir
    assert page.index("<h2>") == page.index("<h2>What the edits do: the frontier</h2>")
    links = re.findall(r'<a href="([^"]+)"><img', page)
    assert links and all((out / link).is_file() for link in links)
    # the manifest's warnings are shown, escaped; the summary as mean [lo, hi]
    assert html_text.escape("a prompt was cut <short>") in page
    assert re.search(r"\d+(\.\d+)? \[\d+(\.\d+)?, \d+(\.\d+)?\]", page)


def test_report_command_rerenders(tmp_path):
    out = report_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert bad.exit_code == 2 and "not a run directory" in bad.output
