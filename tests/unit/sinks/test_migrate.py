from __future__ import annotations

from pathlib import Path

import pytest

from sinks.exceptions import InvalidIdentifier, MigrationError
from sinks.migrate import (
    BOOTSTRAP,
    REPLICATION_PATH,
    load_migrations,
    render,
    template_values,
)


def _all_statements(values: dict[str, str]) -> list[str]:
    out = render(BOOTSTRAP, values)
    for m in load_migrations():
        out.extend(render(m.text, values))
    return out


def test_migrations_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].label == "0001_tables"


def test_single_server_rendering_has_no_cluster_and_plain_engines() -> None:
    statements = _all_statements(template_values("incidents"))
    text = "\n".join(statements)
    assert "$" not in text
    assert "ON CLUSTER" not in text
    assert "Replicated" not in text
    assert "ENGINE = ReplacingMergeTree(revision, is_deleted)" in text.replace("( ", "(")
    assert all(not s.endswith(";") for s in statements)


def test_cluster_rendering_adds_on_cluster_and_replicated_engines() -> None:
    statements = _all_statements(template_values("analytics", "main"))
    for s in statements:
        if s.startswith("INSERT"):  # replication copies inserted rows to the other replicas
            continue
        assert "ON CLUSTER main" in s, s
    engines = [s for s in statements if "ENGINE" in s]
    assert engines
    for s in engines:
        assert f"ENGINE = ReplicatedReplacingMergeTree({REPLICATION_PATH}" in s, s
    assert any("analytics.incidents" in s for s in statements)


def test_period_views_are_rendered_per_period() -> None:
    text = "\n".join(_all_statements(template_values("incidents")))
    for period in ("week", "month", "quarter", "year"):
        assert f"VIEW incidents.v_province_{period} " in text
        assert f"VIEW incidents.v_national_{period} " in text
    assert "quarter_label" in text
    assert "makeDate32(toYear(day), (toQuarter(day) - 1) * 3 + 1, 1) AS quarter" in text
    # Date-returning calendar functions clamp Date32 days before 1970: never in a period
    # start of the views as they stand after every migration (the last definition wins).
    last: dict[str, str] = {}
    for statement in _all_statements(template_values("incidents")):
        if statement.startswith("CREATE OR REPLACE VIEW"):
            last[statement.split()[4]] = statement
    assert "incidents.v_district_month" in last
    for name, statement in last.items():
        for clamping in ("toMonday(day)", "toStartOfMonth(day)", "toStartOfQuarter(day)"):
            assert f"{clamping} AS" not in statement, name


@pytest.mark.parametrize("bad", ["incidents; DROP TABLE x", "a-b", "1abc", ""])
def test_names_must_be_identifiers(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        template_values(bad)
    with pytest.raises(InvalidIdentifier):
        template_values("incidents", bad or "x y")


def test_unknown_placeholder_is_a_migration_error() -> None:
    with pytest.raises(MigrationError):
        render("CREATE TABLE $nope.t (x Int8) ENGINE = Memory;", template_values("db"))


def test_unterminated_statement_is_an_error() -> None:
    with pytest.raises(MigrationError):
        render("SELECT 1", template_values("db"))


def test_comments_may_mention_placeholders() -> None:
    assert render("-- uses $whatever\nSELECT 1;\n", template_values("db")) == ["SELECT 1"]


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError):
        load_migrations(tmp_path)


def test_condition_and_reapply_directives_are_read() -> None:
    by_label = {m.label: m for m in load_migrations()}
    rebuild = by_label["0005_incidents_date32"]
    assert rebuild.condition is not None and "type = 'Date'" in rebuild.condition
    assert by_label["0007_views_date32"].reapplies == [2, 3]
    assert by_label["0001_tables"].condition is None
    assert by_label["0001_tables"].reapplies == []


def test_a_bad_reapply_line_is_a_migration_error(tmp_path: Path) -> None:
    (tmp_path / "0001_x.sql").write_text("-- reapply: three\nSELECT 1;\n")
    (migration,) = load_migrations(tmp_path)
    with pytest.raises(MigrationError):
        _ = migration.reapplies
