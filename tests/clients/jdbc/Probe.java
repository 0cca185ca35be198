// What DBeaver, DataGrip and Metabase do through the official ClickHouse JDBC driver,
// against the read-only SQL endpoint: connect, list tables and columns, run a prepared
// statement, and meet the endpoint's refusals. Run as a single-file source program:
//   java -cp '<driver jars>/*' Probe.java jdbc:clickhouse://127.0.0.1:<port>/incidents
// It prints one JSON object on stdout; tests/integration/clients/test_jdbc.py asserts on it.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

public class Probe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", "default");
        props.setProperty("password", "");
        Map<String, Object> out = new LinkedHashMap<>();
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            out.put("product", meta.getDatabaseProductName());
            out.put("version", meta.getDatabaseProductVersion());
            List<Object> schemas = new ArrayList<>();
            try (ResultSet rs = meta.getSchemas()) {
                while (rs.next()) {
                    schemas.add(rs.getString("TABLE_SCHEM"));
                }
            }
            out.put("schemas", schemas);
            List<Object> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, null, "%", null)) {
                while (rs.next()) {
                    Map<String, Object> t = new LinkedHashMap<>();
                    t.put("schema", rs.getString("TABLE_SCHEM"));
                    t.put("name", rs.getString("TABLE_NAME"));
                    t.put("type", rs.getString("TABLE_TYPE"));
                    tables.add(t);
                }
            }
            out.put("tables", tables);
            Map<String, Object> columns = new LinkedHashMap<>();
            try (ResultSet rs = meta.getColumns(null, null, "v_province_quarter", "%")) {
                while (rs.next()) {
                    columns.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
                }
            }
            out.put("columns", columns);
            List<Object> provinces = new ArrayList<>();
            String sql = "SELECT province, killed_total, fatality_share_pct FROM v_province_quarter"
                    + " WHERE quarter_label = ? ORDER BY killed_total DESC";
            try (PreparedStatement ps = conn.prepareStatement(sql)) {
                ps.setString(1, "2024-Q1");
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Map<String, Object> row = new LinkedHashMap<>();
                        row.put("province", rs.getString(1));
                        row.put("killed", rs.getLong(2));
                        row.put("share", rs.getDouble(3));
                        provinces.add(row);
                    }
                }
            }
            out.put("provinces", provinces);
            String national = "SELECT killed_total, injured_total, incidents FROM v_national_quarter"
                    + " WHERE quarter = ?";
            try (PreparedStatement ps = conn.prepareStatement(national)) {
                ps.setDate(1, java.sql.Date.valueOf("2024-01-01"));
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        out.put("national", List.of(rs.getLong(1), rs.getLong(2), rs.getLong(3)));
                    }
                }
            }
            // DBeaver's result viewer caps rows with setMaxRows (max_result_rows, break).
            try (Statement st = conn.createStatement()) {
                st.setMaxRows(3);
                try (ResultSet rs = st.executeQuery("SELECT number FROM numbers(10)")) {
                    long rows = 0;
                    while (rs.next()) {
                        rows++;
                    }
                    out.put("max_rows_3", rows);
                }
            }
            // Settings on a statement: a tighter limit applies, anything else is refused.
            out.put("tighter_setting", withSetting(conn, "max_execution_time", "10"));
            out.put("refused_setting", withSetting(conn, "max_threads", "1"));
            out.put("refused_looser", withSetting(conn, "max_execution_time", "3600"));
            // Refusals: each is ClickHouse's error, and the connection stays usable after it.
            out.put("refused_settings_clause", refusal(conn, "SELECT 1 SETTINGS max_threads = 1"));
            out.put("refused_table", refusal(conn, "SELECT * FROM system.processes"));
            out.put("syntax_error", refusal(conn, "SELEC 1"));
            try (PreparedStatement ps = conn.prepareStatement("SELECT ? + 1")) {
                out.put("missing_parameter", failure(() -> ps.executeQuery()));
            }
            try (PreparedStatement ps = conn.prepareStatement(national)) {
                ps.setString(1, "not a date");
                out.put("ill_typed_parameter", failure(() -> ps.executeQuery().next()));
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 41 + 1")) {
                rs.next();
                out.put("after_refusals", rs.getLong(1));
            }
        }
        System.out.println(json(out));
    }

    interface Call {
        Object run() throws SQLException, ReflectiveOperationException;
    }

    static Object refusal(Connection conn, String sql) {
        return failure(() -> {
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
                return rs.next();
            }
        });
    }

    static Object withSetting(Connection conn, String name, String value) {
        return failure(() -> {
            try (Statement st = conn.createStatement()) {
                // The driver's own per-statement settings (what its callers set).
                java.lang.reflect.Field field =
                        com.clickhouse.jdbc.StatementImpl.class.getDeclaredField("localSettings");
                field.setAccessible(true);
                Object settings = field.get(st.unwrap(com.clickhouse.jdbc.StatementImpl.class));
                ((com.clickhouse.client.api.query.QuerySettings) settings).serverSetting(name, value);
                try (ResultSet rs = st.executeQuery("SELECT getSetting('" + name + "')")) {
                    rs.next();
                    return rs.getString(1);
                }
            }
        });
    }

    static Object failure(Call call) {
        Map<String, Object> r = new LinkedHashMap<>();
        try {
            r.put("result", String.valueOf(call.run()));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the driver's statement settings moved", e);
        } catch (SQLException e) {
            r.put("code", e.getErrorCode());
            r.put("message", String.valueOf(e.getMessage()));
        } catch (RuntimeException e) {
            r.put("exception", e.getClass().getName());
            r.put("message", String.valueOf(e.getMessage()));
        }
        return r;
    }

    static String json(Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof Map<?, ?> map) {
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (b.length() > 1) {
                    b.append(',');
                }
                b.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return b.append('}').toString();
        }
        if (value instanceof List<?> list) {
            StringBuilder b = new StringBuilder("[");
            for (Object item : list) {
                if (b.length() > 1) {
                    b.append(',');
                }
                b.append(json(item));
            }
            return b.append(']').toString();
        }
        if (value instanceof Number || value instanceof Boolean) {
            return String.valueOf(value);
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : String.valueOf(value).toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
