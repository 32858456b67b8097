package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Types says which of the types that differ between ClickHouse versions a database
// uses. The zero value is what ClickHouse 18.16 offers.
type Types struct {
	// DateTime64 selects DateTime64(9, 'UTC') for timestamps; without it a timestamp is
	// DateTime('UTC') plus a <name>_nanos UInt32 column.
	DateTime64 bool
	// UInt256 selects UInt256 for the numeric column of uint256 fields; without it the
	// column is Nullable(Decimal(38, 0)), NULL above 38 digits.
	UInt256 bool
}

// String encodes t as recorded in schema_migrations, e.g. "datetime64,uint256", or
// "legacy" for the zero value.
func (t Types) String() string {
	var parts []string
	if t.DateTime64 {
		parts = append(parts, "datetime64")
	}
	if t.UInt256 {
		parts = append(parts, "uint256")
	}
	if len(parts) == 0 {
		return "legacy"
	}
	return strings.Join(parts, ",")
}

// parseTypes is the inverse of Types.String.
func parseTypes(s string) (Types, error) {
	var t Types
	if s == "legacy" {
		return t, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch p {
		case "datetime64":
			t.DateTime64 = true
		case "uint256":
			t.UInt256 = true
		default:
			return t, fmt.Errorf("clickhouse: unknown types %q", s)
		}
	}
	return t, nil
}

// TypesForVersion returns the types a server of version v ("18.16.1",
// "24.8.4.13") offers: DateTime64 from 20.1, UInt256 from 21.7 (before that, big
// integers were experimental).
func TypesForVersion(v string) (Types, error) {
	f := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(f) < 2 {
		return Types{}, fmt.Errorf("clickhouse: server version %q: want major.minor", v)
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Types{}, fmt.Errorf("clickhouse: server version %q: want major.minor", v)
	}
	at := func(ma, mi int) bool { return major > ma || major == ma && minor >= mi }
	return Types{DateTime64: at(20, 1), UInt256: at(21, 7)}, nil
}

// ServerTypes asks the server its version (SELECT version()) and returns the types it
// offers.
func ServerTypes(ctx context.Context, conn driver.Conn) (Types, string, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return Types{}, "", fmt.Errorf("clickhouse: server version: %w", err)
	}
	t, err := TypesForVersion(v)
	return t, v, err
}
