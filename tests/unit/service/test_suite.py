"""Labelled suites read from a folder of CSV files."""

from __future__ import annotations

from pathlib import Path

from anomalyd.service.suite import load_suite


def test_univariate_only_skips_multichannel_csv_files(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("value,label\n" + "1,0\n" * 50)
    (tmp_path / "two.csv").write_text("v0,v1,label\n" + "1,2,0\n" * 50)
    names = [s.name for s in load_suite(tmp_path, train_fraction=0.5, univariate_only=True)]
    assert names == ["one"]
    assert [s.values.shape[1] for s in load_suite(tmp_path, train_fraction=0.5)] == [1, 2]
