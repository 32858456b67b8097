package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Defaults of Options.
const (
	DefaultAddr        = "127.0.0.1:9000"
	DefaultDatabase    = "weir"
	DefaultUser        = "default"
	DefaultDialTimeout = 10 * time.Second
)

// Options says which ClickHouse server and database to use. The zero value is the local
// server's "weir" database as user default.
type Options struct {
	// Addr is host:port of the server's native protocol (the only one that works on
	// ClickHouse 18.16). Default "127.0.0.1:9000".
	Addr string
	// Database holds the tables. Default "weir". It must be a plain identifier
	// (letters, digits, '_').
	Database string
	// User and Password authenticate. User defaults to "default", Password to empty.
	User     string
	Password string
	// DialTimeout bounds connecting to the server. Default 10s.
	DialTimeout time.Duration
	// Logger receives what Migrate does to evolve the tables to the catalogue and the
	// columns it leaves alone. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if !isIdent(o.Database) {
		return o, fmt.Errorf("clickhouse: database name %q: want letters, digits and '_'", o.Database)
	}
	return o, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Dial connects to the server of opts over the native protocol and checks that it
// answers. It does not need Options.Database to exist. The caller closes the
// connection.
func Dial(ctx context.Context, opts Options) (driver.Conn, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(&ch.Options{
		Protocol:    ch.Native,
		Addr:        []string{opts.Addr},
		Auth:        ch.Auth{Username: opts.User, Password: opts.Password},
		DialTimeout: opts.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open %s: %w", opts.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse: ping %s: %w", opts.Addr, err)
	}
	return conn, nil
}

// quote quotes an identifier for ClickHouse SQL (backticks), so that column names such
// as from and to are safe.
func quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "\\`") + "`"
}
