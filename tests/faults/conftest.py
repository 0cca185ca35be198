"""The fault suite uses the integration fixtures: isolated settings and whole pipelines.

The session broker itself comes from tests/conftest.py, so one broker serves both suites.
"""

from __future__ import annotations

from tests.integration.conftest import settings_factory, unique_name, unique_topic_prefix
from tests.integration.streams.conftest import pipeline_factory

__all__ = ["pipeline_factory", "settings_factory", "unique_name", "unique_topic_prefix"]
