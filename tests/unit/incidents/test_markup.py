"""Text from feeds and users is printed as written: rich's markup is never read from it
(a dead letter or a location holding `[/x]` once crashed `incidents sql` and `status`)."""

from __future__ import annotations

import pytest

from incidents import common


def test_a_result_cell_with_markup_is_printed_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    common.print_result(["location"], [["[/x] Jhob [bold]"]], "table")
    assert "[/x] Jhob [bold]" in capsys.readouterr().out


def test_a_usage_error_with_markup_is_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_ = common.usage_error("bad value '[/red]'")
    assert exit_.exit_code == 2
    assert "bad value '[/red]'" in capsys.readouterr().err
