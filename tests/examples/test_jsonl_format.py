"""The jsonl dataset format (examples/sine-bench-examples): items read with their
defaults, and a bad line is one ProtocolError naming the file and line."""

from __future__ import annotations

import json

import pytest

from tests.examples.helpers import require_examples


@pytest.fixture(scope="module")
def jsonl():
    require_examples()
    from sine_bench_examples.jsonl_format import FORMAT

    return FORMAT


def read(jsonl, folder, lines):
    from sine_bench.protocol.dataset import DatasetRequest

    (folder / "dataset.jsonl").write_text("\n".join(lines) + "\n")
    return jsonl.read(DatasetRequest(folder, None, folder / "derived"))


def test_items_with_defaults(jsonl, tmp_path):
    lines = [
        json.dumps({"image": "red_cat.png", "prompts": ["a blue cat"], "source": "a red cat"}),
        "",
        json.dumps({"id": "dog", "image": "d.png", "prompts": ["x", "y"], "class_word": "dog"}),
    ]
    read_ = read(jsonl, tmp_path, lines)
    assert jsonl.recognises(tmp_path)
    first, second = read_.items
    assert (first.id, first.class_word, first.source) == ("red_cat", "red cat", "a red cat")
    assert (second.id, second.prompts) == ("dog", ["x", "y"])
    assert read_.files == [tmp_path / "dataset.jsonl"]


@pytest.mark.parametrize(
    "line, says",
    [
        ("{not json", "line 1: not JSON"),
        ('["a.png"]', "line 1: needs an object with an 'image' path"),
        ('{"image": "a.png", "prompts": ["x"], "colour": 1}', "unknown field(s) ['colour']"),
        ('{"image": "a.png", "prompts": []}', "line 1: prompts"),
    ],
)
def test_a_bad_line_is_one_error(jsonl, tmp_path, line, says):
    from sine_bench.protocol.fields import ProtocolError

    with pytest.raises(ProtocolError, match="dataset.jsonl: ") as err:
        read(jsonl, tmp_path, [line])
    assert says in str(err.value) and "\n" not in str(err.value)
