// Command transactional shows the reason pgqueue exists: a job enqueued in
// the same transaction as the business write it belongs to. It creates an
// order and its SendReceipt job in one transaction and commits (the job
// runs), then does the same and rolls back (the job never exists).
//
// It works in its own schema, pgqueue_example, so that it touches nothing
// else in the database, and drops that schema (tables and jobs) when it
// ends. An application would use public, the default, or a schema of its
// own that it keeps.
//
//	DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go run ./examples/transactional
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

// SendReceipt is the job: email the receipt of one order.
type SendReceipt struct {
	OrderID int64 `json:"order_id"`
}

// Kind implements pgqueue.Args.
func (SendReceipt) Kind() string { return "order.send_receipt" }

const schema = "pgqueue_example"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()

	// Clean up: the example's schema goes, whatever happened.
	defer func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			log.Printf("drop schema %s: %v", schema, err)
		} else {
			fmt.Printf("schema %s dropped\n", schema)
		}
	}()
	// At deploy time; idempotent.
	if err := pgqueue.Migrate(ctx, pool, &pgqueue.MigrateOptions{Schema: schema}); err != nil {
		return err
	}
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+orders+" (id bigserial PRIMARY KEY, total_cents int NOT NULL)"); err != nil {
		return err
	}

	backend, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	if err != nil {
		return err
	}
	client, err := pgqueue.New(backend, pgqueue.Config{})
	if err != nil {
		return err
	}
	sent := make(chan int64, 2)
	err = pgqueue.Register(client, pgqueue.WorkFunc[SendReceipt](func(ctx context.Context, job *pgqueue.Job[SendReceipt]) error {
		fmt.Printf("receipt sent for order %d (job %d)\n", job.Args.OrderID, job.ID)
		sent <- job.Args.OrderID
		return nil
	}))
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())

	// 1. Commit: the order and its job exist together.
	committed, err := placeOrder(ctx, pool, client, orders, 4200, true)
	if err != nil {
		return err
	}
	// 2. Roll back: neither exists, and no worker is woken.
	if _, err := placeOrder(ctx, pool, client, orders, 999, false); err != nil {
		return err
	}

	select {
	case id := <-sent:
		if id != committed {
			return fmt.Errorf("receipt sent for order %d, want %d", id, committed)
		}
	case <-time.After(10 * time.Second):
		return errors.New("the committed order's job did not run within 10s")
	}
	select {
	case id := <-sent:
		return fmt.Errorf("a receipt was sent for rolled-back order %d", id)
	case <-time.After(300 * time.Millisecond):
	}
	fmt.Println("the rolled-back order has no job: done")
	return nil
}

func placeOrder(ctx context.Context, pool *pgxpool.Pool, client *pgqueue.Client, orders string, cents int, commit bool) (int64, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	var orderID int64
	if err := tx.QueryRow(ctx, "INSERT INTO "+orders+" (total_cents) VALUES ($1) RETURNING id", cents).Scan(&orderID); err != nil {
		return 0, err
	}
	if _, err := client.EnqueueTx(ctx, tx, SendReceipt{OrderID: orderID}, nil); err != nil {
		return 0, err
	}
	if !commit {
		fmt.Printf("order %d rolled back\n", orderID)
		return orderID, tx.Rollback(ctx)
	}
	fmt.Printf("order %d committed with its receipt job\n", orderID)
	return orderID, tx.Commit(ctx)
}
