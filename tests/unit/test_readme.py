"""The README is the project's promise: it must stay current with the code."""

from __future__ import annotations

from pathlib import Path

from incidents.cli import app
from incidents_config.settings import SECTIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_every_setting() -> None:
    for cls in SECTIONS.values():
        prefix = cls.model_config.get("env_prefix", "")
        for field in cls.model_fields:
            assert f"`{prefix}{field}`".upper() in README.upper(), f"{prefix}{field}".upper()


def test_readme_lists_every_command() -> None:
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"`incidents {name}" in README, name


def test_readme_gives_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README
