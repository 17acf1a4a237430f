"""HTTP read APIs: Tempo (traces) now; Prometheus, Loki and Alertmanager build here."""
