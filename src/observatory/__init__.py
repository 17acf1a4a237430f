"""Observatory: the observability stack of an LLM platform in one program."""

__version__ = "0.1.0"
