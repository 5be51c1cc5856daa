// Command fiveminutes is the README's "Postgres in five minutes" path: it
// enqueues a job in the same transaction as an order, or runs a worker
// until the queue is empty. It expects `pgqueue migrate up` to have run on
// DATABASE_URL (schema public).
//
//	go run ./examples/fiveminutes enqueue   # an order and its job, one transaction
//	pgqueue jobs show 1                      # the waiting job
//	go run ./examples/fiveminutes work      # a worker runs it, then exits
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

// SendReceipt is the job: email the receipt of one order.
type SendReceipt struct {
	OrderID int64 `json:"order_id"`
}

// Kind implements pgqueue.Args.
func (SendReceipt) Kind() string { return "order.send_receipt" }

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "enqueue" && os.Args[1] != "work") {
		log.Fatal("usage: fiveminutes enqueue|work (with DATABASE_URL set)")
	}
	if err := run(os.Args[1]); err != nil {
		log.Fatal(err)
	}
}

func run(mode string) error {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/pgqueue_demo?sslmode=disable")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	backend, err := pgqueue.NewPostgres(pool, nil) // schema public
	if err != nil {
		return err
	}
	client, err := pgqueue.New(backend, pgqueue.Config{PollInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	if mode == "enqueue" {
		return enqueue(ctx, pool, client)
	}
	return work(ctx, backend, client)
}

// enqueue inserts an order and its receipt job in one transaction.
func enqueue(ctx context.Context, pool *pgxpool.Pool, client *pgqueue.Client) error {
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, total_cents int NOT NULL)"); err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	var orderID int64
	if err := tx.QueryRow(ctx, "INSERT INTO orders (total_cents) VALUES (4200) RETURNING id").Scan(&orderID); err != nil {
		return err
	}
	id, err := client.EnqueueTx(ctx, tx, SendReceipt{OrderID: orderID}, nil)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	fmt.Printf("order %d and its job %d committed together; see it with: pgqueue jobs show %d\n", orderID, id, id)
	return nil
}

// work runs a worker until no job of the queue is waiting or running.
func work(ctx context.Context, backend *pgqueue.PostgresBackend, client *pgqueue.Client) error {
	err := pgqueue.Register(client, pgqueue.WorkFunc[SendReceipt](func(ctx context.Context, job *pgqueue.Job[SendReceipt]) error {
		fmt.Printf("job %d: receipt sent for order %d\n", job.ID, job.Args.OrderID)
		return nil
	}))
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())
	admin := pgqueue.NewAdmin(backend)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		st, err := admin.Stats(ctx)
		if err != nil {
			return err
		}
		left := int64(0)
		for _, q := range st.Queues {
			left += q.Available.N + q.Scheduled.N + q.Running.N
		}
		if left == 0 {
			fmt.Println("queue empty: done")
			return nil
		}
	}
	return errors.New("jobs still waiting after 30s")
}
