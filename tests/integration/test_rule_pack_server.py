"""The shipped rule pack and routing config load unchanged into a running server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
PACK = sorted(p for p in (REPO / "rules").glob("*.yml") if p.name != "alertmanager.yml")


def test_rule_pack_and_routing_config_load(tmp_path: Path) -> None:
    env = {
        "OBSERVATORY_RULE_FILES": json.dumps([str(p) for p in PACK]),
        "OBSERVATORY_ALERTMANAGER_CONFIG_FILE": str(REPO / "rules" / "alertmanager.yml"),
    }
    server = ServerProcess(tmp_path / "data", env=env)
    server.start()
    try:
        groups = httpx.get(f"{server.api}/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) >= 50
        assert {Path(g["file"]).name for g in groups} == {p.name for p in PACK}
        assert all(r["health"] in ("ok", "unknown") for r in rules)
        receivers = {r["name"] for r in httpx.get(f"{server.api}/api/v2/receivers").json()}
        assert {"pager", "chat", "log"} <= receivers
    finally:
        assert server.stop() == 0
