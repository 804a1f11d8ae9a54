"""User YAML is read strictly: a key given twice, non-UTF-8 bytes and unwritable text
are one-line errors naming the file."""

import pytest

from sine_bench.protocol import ProtocolError
from sine_bench.yaml_files import read_yaml_file


def _read(tmp_path, content: bytes):
    path = tmp_path / "f.yaml"
    path.write_bytes(content)
    return read_yaml_file(path, ProtocolError)


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"a: 1\nb: 2\na: 3\n", "found the key 'a' twice (first on line 1; keep one) at line 3"),
        (b"x:\n  steps: 1\n  steps: 2\n", "found the key 'steps' twice"),
        (b"a: 1\n'a': 2\n", "found the key 'a' twice"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
        (b'a: "\\ud800"\n', "a: text is not valid Unicode"),
        (b"a: !!python/object:os.system {}\n", "not valid YAML"),
        (b"a: [" * 5000, "nested too deeply"),
        (b"#" * (2 << 20), "too big for a YAML settings file"),
    ],
)
def test_bad_yaml_is_one_line_naming_the_file(tmp_path, content, needle):
    with pytest.raises(ProtocolError) as err:
        _read(tmp_path, content)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "f.yaml")) and "\n" not in message
    assert needle in message


def test_merge_keys_and_unique_keys_still_load(tmp_path):
    data = _read(tmp_path, b"base: &b {steps: 1, lr: 2}\nft:\n  <<: *b\n  steps: 3\n")
    assert data["ft"] == {"steps": 3, "lr": 2}
