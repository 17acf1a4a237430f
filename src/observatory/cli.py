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
    _test_parser(commands)
    return parser


def _test_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = commands.add_parser("test", help="unit-test rules, as promtool test does")
    kinds = test.add_subparsers(dest="test_command", required=True)
    rules = kinds.add_parser(
        "rules",
        help="run rule unit tests in promtool's format; exit 1 on a failure, 2 on a bad file",
    )
    rules.add_argument("files", nargs="+", metavar="FILE", help="unit test files")
    rules.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="REGEX",
        help="only the test groups whose name matches (repeatable)",
    )


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
    if args.command == "test":
        # Imported here: `serve` should not pay for the rule test runner, nor it for the server.
        from observatory.alerting.rules.unit_test import run_rule_tests

        # Every rule error is in the runner's own report; a log line would only garble it.
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            return run_rule_tests(args.files, run=args.run)
        finally:
            logging.disable(previous)
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
