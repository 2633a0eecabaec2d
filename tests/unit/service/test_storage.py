"""The SQLite store: point/score blocks and group commit."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from anomalyd.service import storage
from anomalyd.service.datalock import DataDirLockedError
from anomalyd.service.storage import ROWS_PER_STATEMENT, PointBlock, ScoreBlock, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path)
    yield s
    s.close()


def _block(sid: str, first: int, n: int) -> PointBlock:
    ts = np.arange(first, first + n, dtype=float) * 10.0
    return PointBlock(sid, first, ts, np.stack([ts, -ts], axis=1))


def test_ranges_cross_block_edges(store: Store) -> None:
    store.write(lambda c: Store.insert_blocks(c, [_block("a", 0, 5), _block("a", 5, 3)]))
    score = np.arange(8, dtype=float)
    store.write(lambda c: Store.write_scores(c, [ScoreBlock("a", 2, score[2:7], score[2:7])]))
    pts = store.read_range("a", 3, 7, 2)
    np.testing.assert_array_equal(pts.idx, [3, 4, 5, 6])
    np.testing.assert_array_equal(pts.values[:, 1], -pts.ts)
    np.testing.assert_array_equal(pts.raw, [3, 4, 5, 6])
    late = store.read_range("a", 6, 8, 2)
    np.testing.assert_array_equal(late.raw, [6, np.nan])  # point 7 has no score yet
    by_time = store.read_time_range("a", 15.0, 60.0, 3, 2)
    np.testing.assert_array_equal(by_time.ts, [20.0, 30.0, 40.0])
    assert store.progress() == {"a": (8, 70.0, 7)}


def test_group_commit_isolates_a_failing_write(store: Store) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        def fn(conn: object) -> None:
            Store.insert_blocks(conn, [_block(f"s{i}", 0, 4)])  # type: ignore[arg-type]
            if i == 3:
                raise ValueError("refused")

        barrier.wait()
        try:
            store.write(fn)
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [str(e) for e in errors] == ["refused"]
    assert sorted(store.progress()) == [f"s{i}" for i in range(8) if i != 3]


def test_writes_larger_than_one_statement(store: Store) -> None:
    n = 2 * ROWS_PER_STATEMENT + 3  # three multi-row statements per table
    store.write(lambda c: Store.insert_blocks(c, [_block(f"s{i}", 0, 2) for i in range(n)]))
    scores = [ScoreBlock(f"s{i}", 0, np.array([i, 0.5]), np.array([1.0, i])) for i in range(n)]
    store.write(lambda c: Store.write_scores(c, scores))
    assert store.progress() == {f"s{i}": (2, 10.0, 2) for i in range(n)}
    last = store.read_range(f"s{n - 1}", 0, 2, 2)
    np.testing.assert_array_equal(last.raw, [n - 1, 0.5])
    np.testing.assert_array_equal(last.score, [1.0, n - 1])


def test_the_wal_is_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "CHECKPOINT_INTERVAL_S", 0.05)
    s = Store(tmp_path)
    try:
        before = s.path.stat().st_size
        blocks = [_block(f"s{i}", 0, 50) for i in range(200)]
        s.write(lambda c: Store.insert_blocks(c, blocks))  # into the WAL only
        deadline = time.monotonic() + 10
        while s.path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert s.path.stat().st_size > before  # copied into the database file, no write waited
        assert s.read_range("s7", 0, 50, 2).idx.tolist() == list(range(50))
    finally:
        s.close()


def test_one_store_per_data_directory(tmp_path: Path) -> None:
    first = Store(tmp_path)
    with pytest.raises(
        DataDirLockedError, match=rf"in use by another anomalyd \(pid {os.getpid()}\)"
    ):
        Store(tmp_path)
    first.close()
    Store(tmp_path).close()  # released on close (and by the kernel when a process dies)
