package pgqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
)

// EmailJob is the quickstart's job args.
type EmailJob struct {
	To string `json:"to"`
}

func (EmailJob) Kind() string { return "email.send" }

// The quickstart: enqueue a job and work it on the in-memory backend.
func Example() {
	ctx := context.Background()
	client, err := pgqueue.New(memqueue.New(), pgqueue.Config{})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	_ = pgqueue.Register(client, pgqueue.WorkFunc[EmailJob](func(ctx context.Context, job *pgqueue.Job[EmailJob]) error {
		fmt.Println("sending email to", job.Args.To, "attempt", job.Attempt)
		close(done)
		return nil
	}))
	if err := client.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := client.Enqueue(ctx, EmailJob{To: "ada@example.com"}, nil); err != nil {
		panic(err)
	}
	<-done
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("stopped:", client.Stop(stopCtx))
	// Output:
	// sending email to ada@example.com attempt 1
	// stopped: <nil>
}
