from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate

RETENTION = Retention(7, 30, 90, 30, 7)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    # chDB opens one data path per process, so every in-process store test shares this one
    # and keeps apart by tenant.
    path: Path = tmp_path_factory.mktemp("store")
    engine = EmbeddedStore(path)
    migrate(engine, RETENTION)
    yield engine
    engine.close()
