"""Labelled suites read from a folder of CSV files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from anomalyd.service.suite import load_suite


def test_univariate_only_skips_multichannel_csv_files(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("value,label\n" + "1,0\n" * 50)
    (tmp_path / "two.csv").write_text("v0,v1,label\n" + "1,2,0\n" * 50)
    names = [s.name for s in load_suite(tmp_path, train_fraction=0.5, univariate_only=True)]
    assert names == ["one"]
    assert [s.values.shape[1] for s in load_suite(tmp_path, train_fraction=0.5)] == [1, 2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value,label\n1,0\n2,0,7\n", "data row 2 has 3 cells, the header 2"),
        ("label\n0\n1\n", "no value column"),
        ("value,label\n", "no data rows"),
        ("time,value,label\n2024-01-01,1,0\n2024-01-02,2,0\n", "column `time` holds no numbers"),
        ("value,label\n1,0\n1_000,0\n", "data row 2, column `value`: '1_000'"),
        ("value,label\n1,0_1\n", "data row 1: the label '0_1'"),
    ],
)
def test_malformed_suite_files_are_refused_with_what_to_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_suite(tmp_path, train_fraction=0.5)


def test_labels_written_as_floats_and_blank_lines_are_read(tmp_path: Path) -> None:
    text = "\ufefftimestamp,value,label\n1,2.5,1.0\n2,3, 1\n3,4,0\n\n"  # a BOM, a blank line
    (tmp_path / "a.csv").write_text(text)
    (series,) = load_suite(tmp_path, train_fraction=0.5)
    assert series.values.tolist() == [[2.5], [3.0], [4.0]] and series.labels.tolist() == [1, 1, 0]
