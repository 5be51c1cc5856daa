package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/pgqueue/pgqueue/bench"
)

// riverJob is River's counterpart of bench.Job: a no-op job identified by
// its sequence number. It has the same kind and JSON shape so that both
// systems store the same payload.
type riverJob struct {
	Seq int64 `json:"seq"`
}

// Kind implements river.JobArgs.
func (riverJob) Kind() string { return bench.Job{}.Kind() }

// riverVariant is one River client configuration under test. Zero
// durations leave River's own defaults in place.
type riverVariant struct {
	name              string
	maxWorkers        int
	fetchCooldown     time.Duration
	fetchPollInterval time.Duration
}

var (
	// riverBenchSettings mirrors the client that River's own benchmark
	// (`river bench`, cmd/river/riverbench/river_bench.go) builds: 2,000
	// workers on the default queue, a 2 ms fetch cooldown and a 20 ms poll
	// interval. These are River's best published figures.
	riverBenchSettings = riverVariant{
		name:              "river(bench settings)",
		maxWorkers:        2000,
		fetchCooldown:     2 * time.Millisecond,
		fetchPollInterval: 20 * time.Millisecond,
	}
	// riverDefaults is what a River user gets out of the box: River has no
	// default worker count (a queue must name one), and 100 is the figure
	// its documentation and examples use; everything else is River's
	// default (100 ms fetch cooldown, 1 s poll interval).
	riverDefaults = riverVariant{
		name:       "river(defaults)",
		maxWorkers: 100,
	}
)

// config returns the River client configuration shared by the variant's
// inserting and working clients. The inserting client needs the fetch
// settings too: River rate-limits its insert NOTIFYs by FetchCooldown, so
// that setting is part of what a job's pickup latency measures.
func (v riverVariant) config(schema string, logger *slog.Logger) *river.Config {
	return &river.Config{
		FetchCooldown:     v.fetchCooldown,
		FetchPollInterval: v.fetchPollInterval,
		Logger:            logger,
		Schema:            schema,
	}
}

// migrateRiver creates schema and installs River's tables in it with
// rivermigrate, the way a River user would.
func migrateRiver(ctx context.Context, pool *pgxpool.Pool, schema string, logger *slog.Logger) error {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger, Schema: schema})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrate: %w", err)
	}
	return nil
}

// riverSystem describes River, configured as v, on schema (already
// migrated) for the bench workloads. Inserts go through one long-lived
// client that never works jobs, and each Start builds a fresh working
// client, as pgqueue's System does: a producer and a worker process.
func riverSystem(v riverVariant, pool *pgxpool.Pool, schema string, logger *slog.Logger) (bench.System, error) {
	driver := riverpgxv5.New(pool)
	inserter, err := river.NewClient(driver, v.config(schema, logger))
	if err != nil {
		return bench.System{}, err
	}
	params := func(seqs []int64) []river.InsertManyParams {
		ps := make([]river.InsertManyParams, len(seqs))
		for i, s := range seqs {
			ps[i] = river.InsertManyParams{Args: riverJob{Seq: s}}
		}
		return ps
	}
	return bench.System{
		Name:  v.name,
		Begin: pool.Begin,
		InsertTx: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			_, err := inserter.InsertTx(ctx, tx, riverJob{Seq: seq}, nil)
			return err
		},
		InsertMany: func(ctx context.Context, seqs []int64) error {
			_, err := inserter.InsertMany(ctx, params(seqs))
			return err
		},
		InsertCopy: func(ctx context.Context, seqs []int64) error {
			_, err := inserter.InsertManyFast(ctx, params(seqs))
			return err
		},
		Start: func(ctx context.Context, worked func(int64)) (func(context.Context) error, error) {
			workers := river.NewWorkers()
			river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[riverJob]) error {
				worked(j.Args.Seq)
				return nil
			}))
			cfg := v.config(schema, logger)
			cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: v.maxWorkers}}
			cfg.Workers = workers
			c, err := river.NewClient(driver, cfg)
			if err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			return bench.BoundedStop(c.Stop), nil
		},
		Reset: bench.TruncateReset(pool, schema, "river_job"),
	}, nil
}
