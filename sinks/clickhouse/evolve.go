package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// serverTable is a table (or view) of the database as the server describes it.
type serverTable struct {
	engine string
	// columns are in the table's order, types as system.columns spells them.
	columns []serverColumn
}

type serverColumn struct {
	name, chType string
}

// serverSchema reads the tables and columns of db from system.tables and
// system.columns (whose rows come in each table's column order; ClickHouse 18.16 has
// no position column).
func serverSchema(ctx context.Context, conn driver.Conn, db string) (map[string]*serverTable, error) {
	out := map[string]*serverTable{}
	rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", db)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: read the tables of %s: %w", db, err)
	}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			rows.Close()
			return nil, fmt.Errorf("clickhouse: read the tables of %s: %w", db, err)
		}
		out[name] = &serverTable{engine: engine}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: read the tables of %s: %w", db, err)
	}
	rows, err = conn.Query(ctx, "SELECT table, name, type FROM system.columns WHERE database = ?", db)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: read the columns of %s: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var c serverColumn
		if err := rows.Scan(&table, &c.name, &c.chType); err != nil {
			return nil, fmt.Errorf("clickhouse: read the columns of %s: %w", db, err)
		}
		if t := out[table]; t != nil {
			t.columns = append(t.columns, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: read the columns of %s: %w", db, err)
	}
	return out, nil
}

// evolution is what it takes to bring a database to the tables of a generated
// migration.
type evolution struct {
	// statements create the missing tables, add the missing columns and re-create
	// the canonical views of the tables that gained columns, in order.
	statements []string
	// extra names the columns (table.column) the server has and the code does not.
	extra []string
	// added counts the tables created and the columns added.
	tables, columns int
}

// planEvolution compares the tables the code wants in db with have (see serverSchema)
// and returns the additive statements that close the gap. A column whose type
// differs fails it with ErrColumnType (all of them, joined), before any statement.
func planEvolution(db string, want []*Table, have map[string]*serverTable) (evolution, error) {
	var (
		ev   evolution
		errs []error
	)
	for _, t := range want {
		ht := have[t.Name]
		if ht == nil {
			ev.statements = append(ev.statements, t.createSQL(db))
			ev.tables++
			continue
		}
		haveType := map[string]string{}
		for _, c := range ht.columns {
			haveType[c.name] = c.chType
		}
		wanted := map[string]bool{}
		added := false
		for i, c := range t.columns {
			wanted[c.name] = true
			hc, ok := haveType[c.name]
			if ok {
				if normType(hc) != normType(c.chType) {
					errs = append(errs, fmt.Errorf("clickhouse: table %s.%s column %s is %s, the code wants %s: %w (write a migration)",
						db, t.Name, c.name, hc, c.chType, ErrColumnType))
				}
				continue
			}
			s := fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s %s", quote(db), quote(t.Name), quote(c.name), c.chType)
			if i > 0 {
				// Added before, or there already: the columns go in the code's order.
				// (ClickHouse 18.16 has no FIRST: a new first column goes last.)
				s += " AFTER " + quote(t.columns[i-1].name)
			}
			ev.statements = append(ev.statements, s)
			ev.columns++
			added = true
		}
		for _, c := range ht.columns {
			if !wanted[c.name] {
				ev.extra = append(ev.extra, t.Name+"."+c.name)
			}
		}
		view := t.Name + "_canonical"
		if added && hasCanonicalView(t) && have[view] != nil {
			ev.statements = append(ev.statements,
				fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", quote(db), quote(view)),
				canonicalViewSQL(db, t.Name))
		}
	}
	if len(errs) > 0 {
		return evolution{}, errors.Join(errs...)
	}
	return ev, nil
}

// normType drops the spaces outside quotes, so that Decimal(38,0) and Decimal(38, 0)
// compare equal.
func normType(t string) string {
	var b strings.Builder
	quoted := false
	for _, r := range t {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == ' ' && !quoted:
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// evolveTables brings db to the tables of the generated migration m (see MigrateConn).
func evolveTables(ctx context.Context, conn driver.Conn, db string, m Migration, log *slog.Logger) error {
	have, err := serverSchema(ctx, conn, db)
	if err != nil {
		return err
	}
	ev, err := planEvolution(db, m.tables, have)
	if err != nil {
		return fmt.Errorf("clickhouse: evolve migration %s: %w", m.ID(), err)
	}
	for _, c := range ev.extra {
		log.Warn("clickhouse: column not in the catalogue, left alone", "database", db, "column", c)
	}
	for _, s := range ev.statements {
		if err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("clickhouse: evolve migration %s: %w\n%s", m.ID(), err, s)
		}
	}
	log.Info("clickhouse: evolved the tables to the catalogue", "database", db, "migration", m.ID(),
		"tables_created", ev.tables, "columns_added", ev.columns, "checksum", m.Checksum())
	return nil
}
