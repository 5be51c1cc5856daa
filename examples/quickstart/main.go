// Command quickstart enqueues one EmailJob and works it on the in-memory
// backend: no database, no Docker. It exits 0 once the job has run.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
)

// EmailJob is the job's args: a struct whose Kind names its worker.
type EmailJob struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// Kind implements pgqueue.Args.
func (EmailJob) Kind() string { return "email.send" }

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	client, err := pgqueue.New(memqueue.New(), pgqueue.Config{})
	if err != nil {
		return err
	}

	done := make(chan struct{})
	err = pgqueue.Register(client, pgqueue.WorkFunc[EmailJob](func(ctx context.Context, job *pgqueue.Job[EmailJob]) error {
		fmt.Printf("EmailJob ran: sent %q to %s (job %d, attempt %d)\n", job.Args.Subject, job.Args.To, job.ID, job.Attempt)
		close(done)
		return nil
	}))
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}

	id, err := client.Enqueue(ctx, EmailJob{To: "ada@example.com", Subject: "Welcome!"}, nil)
	if err != nil {
		return err
	}
	fmt.Printf("enqueued job %d\n", id)

	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the job did not run within 10s")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "done")
	return nil
}
