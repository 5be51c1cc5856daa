package pgqueue

// Migrate, NewMigrator and the embedded goose migrations.

import (
	"context"
	"embed"
	"errors"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationsTable is the goose version table pgqueue's migrations are
// tracked in, in the configured schema. It is not goose's default
// goose_db_version, so an application's own goose history never collides
// with ours. Pass it to the goose CLI as -table.
const MigrationsTable = "pgqueue_goose_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded goose migration files (00001_*.sql, ...)
// for teams that apply them with their own tooling.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory exists
	}
	return sub
}

// MigrateOptions configures Migrate and NewMigrator.
type MigrateOptions struct {
	// Schema receives the tables; it is created if missing. Default
	// "public".
	Schema string
}

// Migrator applies pgqueue's goose migrations to one schema. Build it
// with NewMigrator and Close it when done.
type Migrator struct {
	provider *goose.Provider
	pool     *pgxpool.Pool
	schema   string
}

// NewMigrator returns a Migrator for the database pool points at. It opens
// its own connections (through pgx's database/sql driver, with the
// search_path set to the schema) and does not touch the database until a
// method is called. It returns ErrInvalidConfig for a nil pool or bad
// schema name.
func NewMigrator(pool *pgxpool.Pool, opts *MigrateOptions) (*Migrator, error) {
	var name string
	if opts != nil {
		name = opts.Schema
	}
	schema, err := poolAndSchema(pool, name)
	if err != nil {
		return nil, err
	}
	cfg := pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// The migrations create unqualified tables: they land in the first
	// schema of the search_path, quoted as an identifier.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	db := stdlib.OpenDB(*cfg)
	h := fnv.New64a()
	h.Write([]byte("pgqueue.migrate\x00" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		db.Close()
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(),
		goose.WithTableName(MigrationsTable), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Migrator{provider: p, pool: pool, schema: schema}, nil
}

// Up creates the schema if needed and applies every pending migration.
// It returns an error wrapping ErrDatabase when the database cannot be
// reached or a migration fails.
func (m *Migrator) Up(ctx context.Context) error {
	// IF NOT EXISTS is not safe against a concurrent CREATE SCHEMA (two
	// processes migrating a fresh database at deploy): the loser gets a
	// unique violation, which means the schema exists, as wanted.
	if _, err := m.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{m.schema}.Sanitize()); err != nil && !isDuplicate(err) {
		return dbErr("create schema "+m.schema, err)
	}
	_, err := m.provider.Up(ctx)
	return dbErr("migrate up", err)
}

// Down rolls back the most recent migration. It returns ErrDatabase on
// failure, including when no migration is applied.
func (m *Migrator) Down(ctx context.Context) error {
	_, err := m.provider.Down(ctx)
	return dbErr("migrate down", err)
}

// DownTo rolls back every migration newer than version (0: all of them).
func (m *Migrator) DownTo(ctx context.Context, version int64) error {
	_, err := m.provider.DownTo(ctx, version)
	return dbErr("migrate down", err)
}

// Version returns the newest applied migration's version (0 when none).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	v, err := m.provider.GetDBVersion(ctx)
	if errors.Is(err, goose.ErrNoMigrations) {
		return 0, nil
	}
	return v, dbErr("migration version", err)
}

// Status lists every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	s, err := m.provider.Status(ctx)
	return s, dbErr("migration status", err)
}

// Close releases the Migrator's connections.
func (m *Migrator) Close() error { return m.provider.Close() }

// Migrate applies every pending pgqueue migration to opts.Schema (default
// "public") of the database pool points at, creating the schema if needed.
// It is safe to run from several processes at once (goose takes an
// advisory lock). It returns ErrInvalidConfig for bad options and an error
// wrapping ErrDatabase when the database is unreachable or a migration
// fails.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts *MigrateOptions) error {
	m, err := NewMigrator(pool, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Up(ctx)
}

// isDuplicate reports a unique violation or an already existing schema.
func isDuplicate(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06")
}
