// What Grafana's ClickHouse data source does through the official Go client over HTTP,
// against the read-only SQL endpoint: ping, list tables, run queries, meet refusals.
//
//	go build -o probe . && ./probe 127.0.0.1:<port>
//
// It prints one JSON object on stdout; tests/integration/clients/test_go.py asserts on it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

type failure struct {
	Code    int32  `json:"code"`
	Message string `json:"message"`
}

// Over HTTP the client reports a server error as "[HTTP 403] code: 164, message: ...".
var httpCode = regexp.MustCompile(`code: (\d+)`)

func refusal(err error) *failure {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return &failure{Code: ex.Code, Message: ex.Message}
	}
	if m := httpCode.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		return &failure{Code: int32(code), Message: err.Error()}
	}
	return &failure{Code: -1, Message: err.Error()}
}

func main() {
	out := map[string]any{}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{os.Args[1]},
		Protocol: clickhouse.HTTP,
		Auth:     clickhouse.Auth{Database: "incidents", Username: "default"},
		// The client sends max_execution_time = a context's deadline + 5 s with each query;
		// the endpoint takes it when it is not above its own limit (30 s by default).
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out["ping"] = refusal(conn.Ping(ctx))
	if v, err := conn.ServerVersion(); err == nil {
		out["server"] = v.String()
	}

	var tables []string
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tables:", err)
		os.Exit(1)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			fmt.Fprintln(os.Stderr, "scan:", err)
			os.Exit(1)
		}
		tables = append(tables, name)
	}
	rows.Close()
	out["tables"] = tables

	var databases []string
	rows, err = conn.Query(ctx, "SELECT name FROM system.databases")
	if err == nil {
		for rows.Next() {
			var name string
			_ = rows.Scan(&name)
			databases = append(databases, name)
		}
		rows.Close()
	}
	out["databases"] = databases

	var killed, injured, incidents uint64
	err = conn.QueryRow(ctx,
		"SELECT killed_total, injured_total, incidents FROM v_national_quarter WHERE quarter_label = {q:String}",
		clickhouse.Named("q", "2024-Q1"),
	).Scan(&killed, &injured, &incidents)
	out["national"] = []uint64{killed, injured, incidents}
	out["national_error"] = refusal(err)

	var shares []map[string]any
	rows, err = conn.Query(ctx,
		"SELECT province, killed_total, fatality_share_pct FROM v_province_quarter"+
			" WHERE quarter = {q:Date32} ORDER BY killed_total DESC",
		clickhouse.Named("q", "2024-01-01"),
	)
	if err == nil {
		for rows.Next() {
			var province string
			var k uint64
			var share float64
			_ = rows.Scan(&province, &k, &share)
			shares = append(shares, map[string]any{"province": province, "killed": k, "share": share})
		}
		rows.Close()
	}
	out["provinces"] = shares
	out["provinces_error"] = refusal(err)

	// A setting the endpoint does not allow: ClickHouse's 164; the connection stays usable.
	bad := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_threads": 1}))
	out["refused_setting"] = refusal(conn.QueryRow(bad, "SELECT 1").Err())
	long, cancelLong := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLong()
	out["refused_deadline"] = refusal(conn.QueryRow(long, "SELECT 1").Err())
	out["refused_table"] = refusal(conn.QueryRow(ctx, "SELECT count() FROM system.processes").Err())
	out["missing_parameter"] = refusal(conn.QueryRow(ctx, "SELECT {x:UInt32}").Err())
	out["ill_typed_parameter"] = refusal(
		conn.QueryRow(ctx, "SELECT {x:UInt32}", clickhouse.Named("x", "seven")).Err())
	var after uint8
	err = conn.QueryRow(ctx, "SELECT toUInt8(42)").Scan(&after)
	out["after_refusals"] = after
	out["after_error"] = refusal(err)

	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "encode:", err)
		os.Exit(1)
	}
}
