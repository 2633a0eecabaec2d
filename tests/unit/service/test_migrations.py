"""Schema versions: every earlier database opens in the service with its data intact."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from anomalyd.service import migrations
from anomalyd.service.datalock import LOCK_FILE
from anomalyd.service.migrations import (
    LATEST,
    Migration,
    SchemaError,
    SchemaTooNewError,
    migrate,
    upgrade,
    version,
)
from anomalyd.service.storage import DB_FILE, PointBlock, Store
from tests.unit.service.conftest import PARAMS, TRAIN, ClientFactory

N_POINTS = 30


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]  # noqa: S608


def _old_database(data_dir: Path, at: int) -> Path:
    """A database at schema version ``at`` (0: written before the schema had versions) holding
    one series with ``N_POINTS`` points, as that version stored it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_FILE
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=max(at, 1))
    conn.execute(f"PRAGMA user_version = {at}")
    row = {
        "id": "old", "detector": "mad", "params": json.dumps(PARAMS), "train_points": TRAIN,
        "refit_every": 0, "quantile": 0.995, "labels": json.dumps({"host": "a"}),
        "source": "rest", "n_channels": 1, "count": 7, "scored": 0, "last_ts": 6.0,
        "next_boundary": TRAIN, "model_version": 0, "model_start": None, "error": None,
        "created_at": 1.0,
    }  # fmt: skip
    have = [r[1] for r in conn.execute("PRAGMA table_info(series)")]
    row = {k: v for k, v in row.items() if k in have}  # the columns this version has
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO series ({', '.join(row)}) VALUES ({marks})", [*row.values()])
    ts = np.arange(N_POINTS, dtype=float)
    Store.insert_blocks(conn, [PointBlock("old", 0, ts, ts[:, None] % 5)])
    conn.close()
    return path


@pytest.mark.parametrize("at", range(LATEST))
def test_every_earlier_version_opens_with_its_series(
    make_client: ClientFactory, data_dir: Path, at: int
) -> None:
    path = _old_database(data_dir, at)
    with make_client() as client:
        body = client.get("/v1/series/old").json()
        assert body["points"] == N_POINTS  # from the blocks, not the stale copy (7)
        assert body["labels"] == {"host": "a"} and body["train_points"] == TRAIN
        assert body["last_timestamp"] == N_POINTS - 1
        r = client.post("/v1/series/old/points", json={"timestamps": [100.0], "values": [1.0]})
        assert r.json()["accepted"] == 1
    with sqlite3.connect(path) as conn:
        assert version(conn) == LATEST
    assert "count" not in _columns(path, "series") and "last_ts" not in _columns(path, "series")


def test_a_new_database_is_at_the_latest_version(tmp_path: Path) -> None:
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        assert version(conn) == LATEST
    assert _columns(tmp_path / DB_FILE, "models")[:2] == ["series_id", "version"]


def test_a_newer_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = _old_database(tmp_path, LATEST)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match=f"schema version {LATEST + 1}; this anomalyd"):
        Store(tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DB_FILE, LOCK_FILE])  # no WAL


def test_an_unversioned_database_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE points (series_id TEXT, idx INTEGER, ts REAL, value REAL)")
    with pytest.raises(SchemaError, match=re.escape("(found ['points']): it was written by")):
        Store(tmp_path)
    with sqlite3.connect(path) as conn:
        assert version(conn) == 0 and list(_columns(path, "points")) == [
            "series_id",
            "idx",
            "ts",
            "value",
        ]


def test_a_step_another_process_applied_is_not_applied_again(tmp_path: Path) -> None:
    path = _old_database(tmp_path, 0)
    late = sqlite3.connect(path, isolation_level=None)  # read version 0 before the other ran
    assert version(late) == 0
    assert upgrade(path) == LATEST
    migrations._apply(late, migrations.MIGRATIONS[0])  # what the late process does next
    assert version(late) == LATEST and "count" not in _columns(path, "series")
    late.execute("BEGIN")
    with pytest.raises(ValueError, match="no transaction open"):
        migrate(late)
    late.close()


def test_a_failing_migration_leaves_the_last_whole_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _old_database(tmp_path, LATEST)
    broken = Migration(LATEST + 1, "half done", "DROP TABLE models; SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "LATEST", LATEST + 1)
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        migrations.migrate(conn)
    assert version(conn) == LATEST and not conn.in_transaction
    assert conn.execute("SELECT COUNT(*) FROM models").fetchone() == (0,)  # not dropped
    conn.close()
