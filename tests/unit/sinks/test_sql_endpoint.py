from __future__ import annotations

from sinks.sql_endpoint import error_status, output_format, split_params


def test_split_params_separates_settings_query_params_and_client_only() -> None:
    settings, params = split_params(
        {
            "query_id": "q",
            "session_id": "s",
            "database": "incidents",
            "compress": "1",
            "readonly": "0",
            "max_threads": "2",
            "date_time_input_format": "best_effort",
            "param_x": "1",
            "param_s": "it\\'s",
        }
    )
    assert settings == {"max_threads": "2", "date_time_input_format": "best_effort"}
    assert {k: str(v) for k, v in params.items()} == {"x": "1", "s": "it\\'s"}


def test_output_format_defaults_to_tab_separated() -> None:
    assert output_format("SELECT 1") == "TabSeparated"
    assert output_format("SELECT 1\n FORMAT Native") == "Native"
    assert output_format("SELECT 1 format JSONEachRow;") == "JSONEachRow"


def test_error_status_follows_clickhouse() -> None:
    assert error_status(164) == 403
    assert error_status(62) == 400
    assert error_status(60) == 404
    assert error_status(999) == 500
    assert error_status(None) == 500
