"""Configuration and names every layer shares: the settings object, the Prometheus
metrics, and the names of topics, groups, tables and processes (:mod:`.names`)."""
