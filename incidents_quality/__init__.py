"""Data quality: Great Expectations suites over the warehouse (docs/quality.md)."""
