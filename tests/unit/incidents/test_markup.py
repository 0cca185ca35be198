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


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "Received ClickHouse exception, code: 60, server response: Code: 60."
            " DB::Exception: Unknown table expression identifier 'nope'. In scope SELECT *"
            " FROM nope. (UNKNOWN_TABLE) (for url http://127.0.0.1:8123)",
            "Unknown table expression identifier 'nope'. In scope SELECT * FROM nope (code 60)",
        ),
        (
            "Code: 497. DB::Exception: file() is not allowed here. (ACCESS_DENIED)"
            " (version 25.5.1.1)",
            "file() is not allowed here (code 497)",
        ),
        (
            "Received ClickHouse exception, code: 62, server response: Code: 62. DB::Exception:"
            " Syntax error: failed at position 7 (1) (line 1, col 7): 1\n FORMAT Native."
            " Expected one of: token, OR, AND. (SYNTAX_ERROR) (for url http://127.0.0.1:8123)",
            "Syntax error: failed at position 7 (1) (line 1, col 7): 1 FORMAT Native. Expected"
            " one of: token, OR, AND (code 62)",
        ),
        (
            "Code: 62. DB::Exception: Syntax error: " + "x" * 1000 + ". (SYNTAX_ERROR)",
            "Syntax error: " + "x" * 385 + "… (code 62)",
        ),
        ("the warehouse does not answer", "the warehouse does not answer"),
    ],
)
def test_a_clickhouse_error_is_its_own_message_and_code(raw: str, shown: str) -> None:
    assert common.clickhouse_message(RuntimeError(raw)) == shown
