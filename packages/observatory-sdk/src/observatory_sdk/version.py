"""The SDK's version, reported as the instrumentation scope version of its tracers and meters."""

__version__ = "0.1.0"
