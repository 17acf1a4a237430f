"""Alertmanager's side of alerting: its config file, the route tree, inhibition, silences, the
alert store, the dispatcher with its notification log, and the receivers it sends to."""
