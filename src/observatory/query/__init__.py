"""Reading the store: trace lookup now; PromQL, TraceQL and LogQL engines build here."""
