"""Alerting: rule evaluation, notification routing, silences."""
