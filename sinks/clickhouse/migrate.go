package clickhouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/schemas/catalog"
)

// Errors returned (wrapped) by Migrate and Open; test with errors.Is.
var (
	// ErrChecksum means a migration recorded in schema_migrations differs from the one
	// of the same version in this code (or this code does not know it): someone edited
	// an applied migration or the database was migrated by another version of weir.
	ErrChecksum = errors.New("recorded migration differs from the code")
	// ErrNotMigrated means the database lacks migrations: run Migrate (weir sinks
	// migrate) first.
	ErrNotMigrated = errors.New("database not migrated")
	// ErrColumnType means a column of the database has another type than the one the
	// code generates for it: Migrate does not retype columns, a human writes that
	// migration.
	ErrColumnType = errors.New("column type differs from the code")
)

// MigrationsTable records the applied migrations of a database: a row per migration
// and, for the generated tables migration, one more per evolution (each with the
// checksum the tables then had).
const MigrationsTable = "schema_migrations"

// Migration is one numbered step of the schema. Its statements are idempotent (IF NOT
// EXISTS), so a migration interrupted half-way is simply run again.
type Migration struct {
	// Version numbers the migration, from 1; migrations apply in this order.
	Version uint32
	// Name says what it does, e.g. "tables".
	Name string
	// Statements are run one by one.
	Statements []string
	// Generated says the statements follow the catalogue and the event descriptors
	// (the tables migration): when schema_migrations records another checksum for it,
	// MigrateConn evolves the database additively instead of refusing. Other
	// migrations are written by hand and must match their recorded checksum.
	Generated bool

	// tables are the tables a generated migration creates.
	tables []*Table
}

// ID is the migration's label in logs and in Migrate's result: "0001_tables".
func (m Migration) ID() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// Checksum is the hex SHA-256 of the migration's statements.
func (m Migration) Checksum() string {
	h := sha256.New()
	for _, s := range m.Statements {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Migrations returns the migrations of database db for types, in order:
//
//  1. tables (Generated): the database and one table per catalogue topic, plus
//     chain_retracted_events;
//  2. canonical_views: <table>_canonical for every chain table but chain_retractions;
//  3. rollups: the hourly rollup tables and their materialized views.
func Migrations(db string, types Types) ([]Migration, error) {
	tables, err := catalogTables(types)
	if err != nil {
		return nil, err
	}
	return migrationsOf(db, types, tables), nil
}

// tableSet returns the tables of a database with types: catalogTables, or in tests
// the tables of an older catalogue.
type tableSet func(types Types) ([]*Table, error)

// catalogTables is the tableSet of catalog.All().
func catalogTables(types Types) ([]*Table, error) { return Tables(catalog.All(), types) }

// migrationsOf returns the migrations of db whose first creates tables.
func migrationsOf(db string, types Types, tables []*Table) []Migration {
	create := []string{fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", quote(db))}
	var views []string
	for _, t := range tables {
		create = append(create, t.createSQL(db))
		if hasCanonicalView(t) {
			views = append(views, canonicalViewSQL(db, t.Name))
		}
	}
	return []Migration{
		{Version: 1, Name: "tables", Statements: create, Generated: true, tables: tables},
		{Version: 2, Name: "canonical_views", Statements: views},
		{Version: 3, Name: "rollups", Statements: rollupSQL(db, types)},
	}
}

// hasCanonicalView says whether t has a <table>_canonical view: the chain tables but
// chain_retractions.
func hasCanonicalView(t *Table) bool {
	return strings.HasPrefix(t.Topic, "chain.") && t.Topic != retractionsTopic
}

// canonicalViewSQL creates the view of table's rows whose events were not retracted,
// deduplicated (FINAL).
func canonicalViewSQL(db, table string) string {
	return fmt.Sprintf("CREATE VIEW IF NOT EXISTS %s.%s AS SELECT * FROM %s.%s FINAL WHERE event_id NOT IN (SELECT event_id FROM %s.%s)",
		quote(db), quote(table+"_canonical"), quote(db), quote(table), quote(db), quote(RetractedEventsTable))
}

// recorded is a row of schema_migrations.
type recorded struct {
	version  uint32
	name     string
	checksum string
	types    string
}

func migrationsTableSQL(db string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s (
  version UInt32,
  name String,
  applied_at DateTime('UTC'),
  checksum String,
  types String
) ENGINE = MergeTree ORDER BY version`, quote(db), quote(MigrationsTable))
}

// state reads what schema_migrations records; none when the table does not exist.
func state(ctx context.Context, conn driver.Conn, db string) ([]recorded, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, MigrationsTable).Scan(&n); err != nil {
		return nil, fmt.Errorf("clickhouse: look for %s: %w", MigrationsTable, err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT version, name, checksum, types FROM %s.%s ORDER BY version", quote(db), quote(MigrationsTable)))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: read %s: %w", MigrationsTable, err)
	}
	defer rows.Close()
	var out []recorded
	for rows.Next() {
		var r recorded
		if err := rows.Scan(&r.version, &r.name, &r.checksum, &r.types); err != nil {
			return nil, fmt.Errorf("clickhouse: read %s: %w", MigrationsTable, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: read %s: %w", MigrationsTable, err)
	}
	return out, nil
}

// planned is what plan finds: the types of a database, its migrations, and in order
// those to apply: never applied, or (evolve) generated and recorded with another
// checksum.
type planned struct {
	types Types
	all   []Migration
	todo  []todo
}

type todo struct {
	m      Migration
	evolve bool
}

// ids returns the IDs of the migrations that Migrate would apply or evolve.
func (p planned) ids() []string {
	var out []string
	for _, t := range p.todo {
		if t.evolve {
			out = append(out, t.m.ID()+" (evolve)")
		} else {
			out = append(out, t.m.ID())
		}
	}
	return out
}

// plan reads schema_migrations of db and returns its types (those recorded, else
// those the server offers), the migrations of the tables of set, and which of them
// are to apply or evolve. A generated migration is applied when one of its rows
// records the current checksum (an older checksum means: evolve); a hand-written one
// when its rows record its checksum, else plan fails with ErrChecksum, as it does for
// a migration the code does not know or rows recorded with other types.
func plan(ctx context.Context, conn driver.Conn, db string, set tableSet) (planned, error) {
	done, err := state(ctx, conn, db)
	if err != nil {
		return planned{}, err
	}
	var types Types
	if len(done) > 0 {
		if types, err = parseTypes(done[0].types); err != nil {
			return planned{}, err
		}
	} else if types, _, err = ServerTypes(ctx, conn); err != nil {
		return planned{}, err
	}
	tables, err := set(types)
	if err != nil {
		return planned{}, err
	}
	p := planned{types: types, all: migrationsOf(db, types, tables)}
	recorded := map[uint32]bool{}
	current := map[uint32]bool{}
	for _, r := range done {
		i := int(r.version) - 1
		if i < 0 || i >= len(p.all) {
			return planned{}, fmt.Errorf("clickhouse: %s.%s: migration %d %q: %w (unknown to this version of weir)", db, MigrationsTable, r.version, r.name, ErrChecksum)
		}
		m := p.all[i]
		if r.types != types.String() || r.checksum != m.Checksum() && !m.Generated {
			return planned{}, fmt.Errorf("clickhouse: %s.%s: migration %s: %w (recorded checksum %s types %s, code has %s types %s)",
				db, MigrationsTable, m.ID(), ErrChecksum, r.checksum, r.types, m.Checksum(), types)
		}
		recorded[r.version] = true
		if r.checksum == m.Checksum() {
			current[r.version] = true
		}
	}
	for _, m := range p.all {
		if !current[m.Version] {
			p.todo = append(p.todo, todo{m: m, evolve: recorded[m.Version]})
		}
	}
	return p, nil
}

// Migrate connects to the server of opts (see Dial) and applies the migrations its
// database lacks; see MigrateConn. This is what `weir sinks migrate` runs.
func Migrate(ctx context.Context, opts Options) (applied []string, err error) {
	conn, err := Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return MigrateConn(ctx, conn, opts)
}

// MigrateConn applies, in order, the migrations (see Migrations) that schema_migrations
// of opts.Database does not record, recording each after its statements succeeded, and
// returns their IDs. A second run applies nothing. The types are the server's (see
// ServerTypes) for a new database and those recorded otherwise. It blocks until done;
// do not run two at once against one database.
//
// The tables migration follows the catalogue: when the checksum recorded for it is not
// the code's (a topic or a field was added since), MigrateConn evolves the database
// additively: it compares the tables and columns the code wants with those of
// system.tables and system.columns and creates the missing tables, adds the missing
// columns (ALTER TABLE … ADD COLUMN … AFTER the column before them, so that the order
// is the code's), re-creates the *_canonical views of the tables that gained columns
// (a view keeps the columns it was created with), and then records the migration
// again with its new checksum: schema_migrations keeps one row per checksum it had,
// each with when it was applied. A column of another type than the code's fails it
// with ErrColumnType before anything changes; a column the code no longer has is left
// alone (and logged). The evolution is reported as "0001_tables (evolved)".
//
// Hand-written migrations (the views, the rollups) are strict: MigrateConn refuses
// (ErrChecksum) to run when one's recorded checksum differs from the code's.
func MigrateConn(ctx context.Context, conn driver.Conn, opts Options) (applied []string, err error) {
	return migrate(ctx, conn, opts, catalogTables)
}

// migrate is MigrateConn for the tables of set.
func migrate(ctx context.Context, conn driver.Conn, opts Options, set tableSet) (applied []string, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db := opts.Database
	for _, s := range []string{fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", quote(db)), migrationsTableSQL(db)} {
		if err := conn.Exec(ctx, s); err != nil {
			return nil, fmt.Errorf("clickhouse: create %s.%s: %w", db, MigrationsTable, err)
		}
	}
	p, err := plan(ctx, conn, db, set)
	if err != nil {
		return nil, err
	}
	for _, t := range p.todo {
		m, id := t.m, t.m.ID()
		if t.evolve {
			if err := evolveTables(ctx, conn, db, m, opts.Logger); err != nil {
				return applied, err
			}
			id += " (evolved)"
		} else {
			for _, s := range m.Statements {
				if err := conn.Exec(ctx, s); err != nil {
					return applied, fmt.Errorf("clickhouse: migration %s: %w\n%s", m.ID(), err, s)
				}
			}
		}
		if err := recordMigration(ctx, conn, db, m, p.types); err != nil {
			return applied, err
		}
		applied = append(applied, id)
	}
	return applied, nil
}

// recordMigration adds m to schema_migrations (a batch INSERT: ClickHouse 18.16 does not answer
// an INSERT … VALUES with bound arguments).
func recordMigration(ctx context.Context, conn driver.Conn, db string, m Migration, types Types) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (version, name, applied_at, checksum, types)", quote(db), quote(MigrationsTable)))
	if err != nil {
		return fmt.Errorf("clickhouse: record migration %s: %w", m.ID(), err)
	}
	if err := b.Append(m.Version, m.Name, time.Now().UTC().Truncate(time.Second), m.Checksum(), types.String()); err != nil {
		_ = b.Abort()
		return fmt.Errorf("clickhouse: record migration %s: %w", m.ID(), err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: record migration %s: %w", m.ID(), err)
	}
	return nil
}
