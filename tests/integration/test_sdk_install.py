"""Installing observatory-sdk installs none of the server's dependencies.

Three views of the same promise: the wheel built from packages/observatory-sdk declares no
server dependency (its METADATA `Requires-Dist`, extras included); the dependency closure of
the installed distribution, walked through importlib.metadata, reaches none; and the SDK
imports and runs in a process where the server's packages cannot be imported at all. All
offline: the wheel is built without build isolation, from the setuptools in .venv.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "observatory-sdk"
DISTRIBUTION = "observatory-sdk"
SERVER_ONLY = {"chdb", "pyarrow", "observatory"}
EXTRAS = ("fastapi", "starlette", "all")


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_declared_dependencies_have_no_server_package() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    assert not _names(declared) & SERVER_ONLY
    assert set(project["optional-dependencies"]) == set(EXTRAS)


def test_built_wheel_requires_no_server_package(tmp_path: Path) -> None:
    setuptools_major = int(importlib.metadata.version("setuptools").split(".")[0])
    if setuptools_major < 77:
        pytest.skip("the offline build needs setuptools>=77 in .venv (make test installs it)")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(PACKAGE)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    [wheel] = tmp_path.glob("observatory_sdk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = re.findall(r"^Requires-Dist: (.+)$", archive.read(metadata).decode(), re.M)
        top_level = {name.split("/")[0] for name in archive.namelist()}
    assert requires, "the wheel declares no dependency at all: the METADATA parse is broken"
    assert not _names(requires) & SERVER_ONLY
    assert "opentelemetry-sdk" in _names(requires)
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"observatory_sdk"}


def _closure(root: str, extras: tuple[str, ...]) -> set[str]:
    """Every distribution the installed `root` (with `extras`) depends on, transitively."""
    seen: set[str] = set()
    pending = [(root, extras)]
    while pending:
        name, wanted = pending.pop()
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            applies = marker is None or any(
                marker.evaluate({"extra": extra}) for extra in (*wanted, "")
            )
            dependency = canonicalize_name(requirement.name)
            if applies and dependency not in seen:
                seen.add(dependency)
                pending.append((dependency, tuple(requirement.extras)))
    return seen


def test_installed_dependency_closure_has_no_server_package() -> None:
    closure = _closure(DISTRIBUTION, EXTRAS)
    # The walk reaches deep: grpcio and protobuf come through the OTLP exporters.
    assert {"opentelemetry-sdk", "grpcio", "protobuf", "opentelemetry-instrumentation"} <= closure
    assert not closure & SERVER_ONLY


_WITHOUT_SERVER = textwrap.dedent(
    """
    import importlib.abc, sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"chdb", "pyarrow", "observatory"}:
                raise ImportError(f"{name} is a server dependency")
            return None

    sys.meta_path.insert(0, Blocked())
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import observatory_sdk
    from observatory_sdk import genai_span, setup_telemetry

    spans = InMemorySpanExporter()
    setup_telemetry("probe", span_exporter=spans, metric_reader=InMemoryMetricReader(),
                    export_logs=False)
    with genai_span("chat", "m") as call:
        call.record_response({"usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    observatory_sdk.shutdown()
    assert [s.name for s in spans.get_finished_spans()] == ["chat m"]
    print(sorted(m for m in sys.modules if m.split(".")[0] in {"chdb", "pyarrow", "observatory"}))
    """
)


def test_sdk_runs_where_server_packages_cannot_be_imported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVER],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
