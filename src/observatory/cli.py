"""The `observatory` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from observatory import __version__
from observatory.errors import ConfigError
from observatory.pipeline.processors import ResourceProcessor
from observatory.settings import SETTINGS, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="observatory", description=__doc__)
    parser.add_argument("--version", action="version", version=f"observatory {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run every component in one process")
    serve.add_argument("--config", help="YAML file of settings (see docs/configuration.md)")
    for setting in SETTINGS:
        if setting.flag:
            serve.add_argument(
                "--" + setting.name.replace("_", "-"),
                dest=setting.name,
                type=setting.type,
                default=None,
                help=f"{setting.help} (default {setting.default}; env {setting.env_var})",
            )
    return parser


def _validate(settings: Settings) -> None:
    ports = [settings.http_port, settings.otlp_grpc_port, settings.otlp_http_port]
    given = [p for p in ports if p != 0]
    if len(given) != len(set(given)):
        raise ConfigError(
            f"ports must differ: http {ports[0]}, grpc {ports[1]}, otlp http {ports[2]}"
        )
    ResourceProcessor.from_config(settings.resource_processor)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    flags = {s.name: getattr(args, s.name, None) for s in SETTINGS if s.flag}
    try:
        settings = load_settings(args.config, flags)
        _validate(settings)
    except ConfigError as exc:
        print(f"observatory: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from observatory.app import serve

    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
