"""Alerting: rules over the warehouse's series, an Alertmanager-style lifecycle, and
notifiers (docs/alerting.md). The sink runs the engine as one of its observers."""
