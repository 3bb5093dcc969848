import pytest

from mentor.data.jsonl import read_objects
from mentor.errors import DataError


def test_objects_come_with_their_line_numbers_and_blank_lines_are_skipped(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"a": 1}\n\n  \n{"b": 2}\n')
    assert read_objects(f) == [(1, {"a": 1}), (4, {"b": 2})]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"a": 1}\n{"a": \n', "a.jsonl:2: not valid JSON"),
        ('{"a": 1}\n[1, 2]\n', "a.jsonl:2: not a JSON object"),
    ],
)
def test_the_first_bad_line_is_named(tmp_path, text, said):
    f = tmp_path / "a.jsonl"
    f.write_text(text)
    with pytest.raises(DataError, match=said):
        read_objects(f)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_objects(tmp_path / "none.jsonl")
