"""TraceQL search over the `spans` table: parser, SQL compiler and Tempo-shaped results."""
