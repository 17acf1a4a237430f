"""Between receivers and the store: queue, limits, processors and group commit."""
