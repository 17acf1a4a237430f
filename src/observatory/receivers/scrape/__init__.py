"""Scraping Prometheus and OpenMetrics endpoints, configured like Prometheus's scrape_configs."""

from observatory.receivers.scrape.manager import ScrapeManager

__all__ = ["ScrapeManager"]
