package main

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

func newMigrateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or inspect the pgqueue schema migrations",
		Long: "migrate manages pgqueue's goose migrations in --schema, tracked in their own version table (" +
			pgqueue.MigrationsTable + "), apart from the application's goose history.",
	}
	withMigrator := func(fn func(cmd *cobra.Command, m *pgqueue.Migrator) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			s, err := g.connect(cmd.Context(), true)
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
		Args:  cobra.NoArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			if err := m.Up(ctx); err != nil {
				return err
			}
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema %s is at version %d\n", g.schema, v)
			return nil
		}),
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration",
		Args:  cobra.NoArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("nothing to roll back: schema %s has no pgqueue migration applied", g.schema)
			}
			if err := m.Down(ctx); err != nil {
				return err
			}
			nv, err := m.Version(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rolled back version %d; schema %s is at version %d\n", v, g.schema, nv)
			return nil
		}),
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List the migrations and whether each is applied",
		Args:  cobra.NoArgs,
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
			if g.output == "json" {
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
		Args:  cobra.NoArgs,
		RunE: withMigrator(func(cmd *cobra.Command, m *pgqueue.Migrator) error {
			ctx := cmd.Context()
			v, err := m.Version(ctx)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]int64{"version": v})
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		}),
	}
	sqlCmd := &cobra.Command{
		Use:   "sql",
		Short: "Print the SQL of the embedded migrations (for your own goose directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return errors.New("no embedded migrations")
			}
			sort.Strings(files)
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
