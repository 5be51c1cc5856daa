package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

func newMigrateCmd(g *globals) *cobra.Command {
	cmd := group("migrate", "Apply, roll back or inspect the pgqueue schema migrations",
		"migrate manages pgqueue's goose migrations in --schema, tracked in their own version table ("+
			pgqueue.MigrationsTable+"), apart from the application's goose history.")
	var s *session
	withMigrator := func(fn func(cmd *cobra.Command, m *pgqueue.Migrator) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			var err error
			s, err = g.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			m, err := pgqueue.NewMigrator(s.pool, &pgqueue.MigrateOptions{Schema: g.schema})
			if err != nil {
				return err
			}
			defer m.Close()
			return fn(cmd, m)
		}
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (creating the schema if needed)",
		Args:  noArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			if err := m.Up(ctx); err != nil {
				return err
			}
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"schema": g.schema, "version": v})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema %s is at version %d\n", g.schema, v)
			return nil
		}),
	}
	var yes bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration (needs --yes; says what it drops)",
		Long: "down rolls back the newest applied migration. Without --yes it only says what that would drop " +
			"(tables, columns with the row counts of their tables, functions, indexes) and exits 1.",
		Args: noArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if v == 0 {
				return coded("nothing_to_do", fmt.Errorf("nothing to roll back: schema %s has no pgqueue migration applied", g.schema))
			}
			file, drops, err := downPlan(ctx, s, v)
			if err != nil {
				return err
			}
			if !yes {
				return confirmErr("would roll back version %d (%s) of schema %s, dropping %s; rerun with --yes to do it", v, file, g.schema, dropsText(drops))
			}
			if err := m.Down(ctx); err != nil {
				return err
			}
			nv, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"schema": g.schema, "rolled_back": v, "file": file, "dropped": drops, "version": nv})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rolled back version %d (dropped %s); schema %s is at version %d\n", v, dropsText(drops), g.schema, nv)
			return nil
		}),
	}
	down.Flags().BoolVar(&yes, "yes", false, "confirm the rollback")
	status := &cobra.Command{
		Use:   "status",
		Short: "List the migrations and whether each is applied",
		Args:  noArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			st, err := m.Status(ctx)
			if err != nil {
				return err
			}
			type row struct {
				Version   int64  `json:"version"`
				File      string `json:"file"`
				Applied   bool   `json:"applied"`
				AppliedAt string `json:"applied_at,omitempty"`
			}
			var rows []row
			for _, x := range st {
				r := row{Version: x.Source.Version, File: x.Source.Path, Applied: x.State == "applied"}
				if !x.AppliedAt.IsZero() {
					r.AppliedAt = x.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
				}
				rows = append(rows, r)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			t := newTable(cmd.OutOrStdout(), "VERSION", "FILE", "APPLIED", "APPLIED AT")
			for _, r := range rows {
				t.row(r.Version, r.File, r.Applied, r.AppliedAt)
			}
			return t.flush()
		}),
	}
	version := &cobra.Command{
		Use:   "version",
		Short: "Print the newest applied migration's version (0 when none)",
		Args:  noArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"schema": g.schema, "version": v})
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		}),
	}
	sqlCmd := &cobra.Command{
		Use:   "sql",
		Short: "Print the SQL of the embedded migrations (for your own goose directory)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return errors.New("no embedded migrations")
			}
			sort.Strings(files)
			if g.json() {
				type migration struct {
					File string `json:"file"`
					SQL  string `json:"sql"`
				}
				out := make([]migration, 0, len(files))
				for _, f := range files {
					body, err := fs.ReadFile(pgqueue.Migrations(), f)
					if err != nil {
						return err
					}
					out = append(out, migration{File: f, SQL: string(body)})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			for _, f := range files {
				body, err := fs.ReadFile(pgqueue.Migrations(), f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "-- ===== %s =====\n%s\n", f, body)
			}
			return nil
		},
	}
	cmd.AddCommand(up, down, status, version, sqlCmd)
	return cmd
}

// dropped is one object a down migration drops.
type dropped struct {
	// Kind is table, column, function or index.
	Kind string `json:"kind"`
	// Name is the object's name; a column's is table.column.
	Name string `json:"name"`
	// Rows is the row count of the table (of a column's table), counted up
	// to dropRowCap; nil for functions and indexes.
	Rows *int64 `json:"rows,omitempty"`
	// RowsAtLeast is true when the count stopped at dropRowCap.
	RowsAtLeast bool `json:"rows_at_least,omitempty"`
}

// dropRowCap bounds the row counts of downPlan, so that the warning never
// scans a huge table in full.
const dropRowCap = 1_000_000

var (
	dropTableRE  = regexp.MustCompile(`(?i)\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	alterTableRE = regexp.MustCompile(`(?is)\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)(.*?);`)
	dropColumnRE = regexp.MustCompile(`(?i)\bDROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	dropOtherRE  = regexp.MustCompile(`(?i)\bDROP\s+(FUNCTION|INDEX)\s+(?:IF\s+EXISTS\s+)?(\w+)`)
)

// downPlan reads the Down section of migration version and lists what it
// drops, with row counts from s's schema.
func downPlan(ctx context.Context, s *session, version int64) (string, []dropped, error) {
	files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
	if err != nil {
		return "", nil, err
	}
	for _, f := range files {
		n, err := strconv.ParseInt(strings.SplitN(f, "_", 2)[0], 10, 64)
		if err != nil || n != version {
			continue
		}
		body, err := fs.ReadFile(pgqueue.Migrations(), f)
		if err != nil {
			return "", nil, err
		}
		_, down, _ := strings.Cut(string(body), "-- +goose Down")
		var out []dropped
		for _, m := range dropTableRE.FindAllStringSubmatch(down, -1) {
			d := dropped{Kind: "table", Name: m[1]}
			d.Rows, d.RowsAtLeast = countRows(ctx, s, m[1])
			out = append(out, d)
		}
		for _, m := range alterTableRE.FindAllStringSubmatch(down, -1) {
			for _, c := range dropColumnRE.FindAllStringSubmatch(m[2], -1) {
				d := dropped{Kind: "column", Name: m[1] + "." + c[1]}
				d.Rows, d.RowsAtLeast = countRows(ctx, s, m[1])
				out = append(out, d)
			}
		}
		for _, m := range dropOtherRE.FindAllStringSubmatch(down, -1) {
			out = append(out, dropped{Kind: strings.ToLower(m[1]), Name: m[2]})
		}
		return f, out, nil
	}
	return "", nil, fmt.Errorf("schema %s is at version %d, which this pgqueue has no migration for (a newer pgqueue migrated it?)", s.schema, version)
}

// countRows counts table's rows up to dropRowCap; nil when it cannot.
func countRows(ctx context.Context, s *session, table string) (*int64, bool) {
	var n int64
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) t", pgx.Identifier{s.schema, table}.Sanitize(), dropRowCap)
	if err := s.pool.QueryRow(ctx, q).Scan(&n); err != nil {
		return nil, false
	}
	return &n, n >= dropRowCap
}

// dropsText lists drops on one line: "table pgqueue_jobs (12 rows), ...".
func dropsText(drops []dropped) string {
	if len(drops) == 0 {
		return "nothing"
	}
	parts := make([]string, len(drops))
	for i, d := range drops {
		parts[i] = d.Kind + " " + d.Name
		if d.Rows != nil {
			at := ""
			if d.RowsAtLeast {
				at = "at least "
			}
			parts[i] += fmt.Sprintf(" (%s%d rows)", at, *d.Rows)
		}
	}
	return strings.Join(parts, ", ")
}
