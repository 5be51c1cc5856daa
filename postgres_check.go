package pgqueue

import "context"

var _ SchemaChecker = (*PostgresBackend)(nil)

// CheckSchema implements SchemaChecker: it returns ErrNotMigrated, saying
// how to fix it, when the backend's schema lacks the pgqueue tables, and
// ErrDatabase when the database cannot be reached.
func (b *PostgresBackend) CheckSchema(ctx context.Context) error { return b.checkMigrated(ctx) }
