"""Bundled sample feeds for the README demo and the tests."""
