"""Run one service of the example, instrumented with one `setup_telemetry` call.

    python examples/gateway/serve.py model   --port 8200
    python examples/gateway/serve.py team    --port 8101 --team search --model-url http://127.0.0.1:8200
    python examples/gateway/serve.py gateway --port 8000 --teams search=http://127.0.0.1:8101

Where telemetry goes is the standard OpenTelemetry environment: `OTEL_EXPORTER_OTLP_ENDPOINT`
(default gRPC to localhost:4317, a local Observatory), `OTEL_EXPORTER_OTLP_PROTOCOL`,
`OTEL_RESOURCE_ATTRIBUTES`, `OBSERVATORY_SAMPLE_RATE`... On SIGTERM or Ctrl-C uvicorn stops
and `shutdown()` flushes what is buffered before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway_app
import model_app
import team_app
from observatory_sdk import setup_telemetry, shutdown

NAMESPACE = "llm-platform"
VERSION = "1.0.0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=["model", "team", "gateway"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--team", help="team name (team service)")
    parser.add_argument("--model-url", help="base URL of the model server (team service)")
    parser.add_argument("--model", default=model_app.MODEL, help="model to ask (team service)")
    parser.add_argument("--teams", default="", help="name=url,... (gateway)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> tuple[str, FastAPI]:
    if args.service == "model":
        return "model-server", model_app.create_app()
    if args.service == "team":
        if not args.team or not args.model_url:
            raise SystemExit("a team service needs --team and --model-url")
        return f"team-{args.team}", team_app.create_app(args.team, args.model_url, args.model)
    teams = dict(pair.split("=", 1) for pair in args.teams.split(",") if pair)
    return "gateway", gateway_app.create_app(teams)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    service, app = build(args)
    telemetry = setup_telemetry(service, app=app, namespace=NAMESPACE, version=VERSION)
    logging.getLogger(service).info("sampling: %s", telemetry.sampler_description)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        shutdown()


if __name__ == "__main__":
    main()
