package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

type fuzzPayload struct {
	S string `json:"s"`
}

func (fuzzPayload) Kind() string { return "fuzz.payload" }

// FuzzEnqueueOptions: whatever the options and payload, Enqueue either
// refuses with ErrInvalidArgs and stores nothing, or stores exactly what
// was asked.
func FuzzEnqueueOptions(f *testing.F) {
	f.Add("default", 0, 0, int64(0), "x")
	f.Add("", 11, -1, int64(-1), "")
	f.Add("a b", 5, 3, int64(time.Hour), strings.Repeat("y", 300))
	f.Add("ok.queue:1-x", 1, 1, int64(1), "\xff\xfe")
	f.Fuzz(func(t *testing.T, queue string, priority, maxAttempts int, delay int64, payload string) {
		b := memqueue.New()
		c, err := pgqueue.New(b, pgqueue.Config{MaxArgsBytes: 256})
		if err != nil {
			t.Fatal(err)
		}
		opts := &pgqueue.EnqueueOptions{Queue: queue, Priority: priority, MaxAttempts: maxAttempts, Delay: time.Duration(delay)}
		_, err = c.Enqueue(context.Background(), fuzzPayload{S: payload}, opts)
		st := b.Stats()
		if err != nil {
			if !errors.Is(err, pgqueue.ErrInvalidArgs) {
				t.Fatalf("want ErrInvalidArgs, got %v", err)
			}
			if st.Available+st.Scheduled != 0 {
				t.Fatalf("a refused enqueue stored a job: %+v", st)
			}
			return
		}
		if st.Available+st.Scheduled != 1 {
			t.Fatalf("an accepted enqueue stored %+v", st)
		}
		if priority < 0 || priority > pgqueue.MaxPriority || maxAttempts < 0 || delay < 0 {
			t.Fatalf("accepted out-of-range options %+v", opts)
		}
		if queue != "" && (len(queue) > 128 || strings.ContainsAny(queue, " \"';\\\x00")) {
			t.Fatalf("accepted queue name %q", queue)
		}
	})
}

// FuzzIdentifiers: a hostile schema or queue name either errors or is
// used verbatim as a quoted identifier or a bound value; it is never
// executed as SQL.
func FuzzIdentifiers(f *testing.F) {
	for _, seed := range []struct{ schema, queue string }{
		{"plain", "default"},
		{`x"; DROP SCHEMA public CASCADE; --`, "q"},
		{`a"."b`, `q'; DELETE FROM pgqueue_jobs; --`},
		{"Ünïcode schéma", "q.1"},
		{"$1", "$2"},
		{`\`, "q:"},
	} {
		f.Add(seed.schema, seed.queue)
	}
	f.Fuzz(func(t *testing.T, schema, queue string) {
		if !utf8.ValidString(schema) || strings.ContainsRune(schema, 0) || !utf8.ValidString(queue) {
			t.Skip("Postgres identifiers and text are valid UTF-8 without NUL")
		}
		pool := pgtest.Pool(t)
		ctx := context.Background()
		// A suffix per run keeps parallel fuzz workers out of each other's
		// schemas.
		schema = fmt.Sprintf("fz%d_%s", time.Now().UnixNano()%1e9, schema)
		_, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
		if err != nil {
			if !errors.Is(err, pgqueue.ErrInvalidConfig) {
				t.Fatalf("schema %q: want ErrInvalidConfig, got %v", schema, err)
			}
			return
		}
		t.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		})
		if err := pgqueue.Migrate(ctx, pool, &pgqueue.MigrateOptions{Schema: schema}); err != nil {
			t.Fatalf("migrate schema %q: %v", schema, err)
		}
		b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgqueue.New(b, pgqueue.Config{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Enqueue(ctx, fuzzPayload{}, &pgqueue.EnqueueOptions{Queue: queue})
		if err != nil {
			if !errors.Is(err, pgqueue.ErrInvalidArgs) {
				t.Fatalf("queue %q: want ErrInvalidArgs, got %v", queue, err)
			}
			return
		}
		var got string
		if err := pool.QueryRow(ctx, "SELECT queue FROM "+pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", id).Scan(&got); err != nil {
			t.Fatalf("the job is not in schema %q: %v", schema, err)
		}
		want := queue
		if want == "" {
			want = pgqueue.DefaultQueue
		}
		if got != want {
			t.Fatalf("stored queue %q, want %q", got, want)
		}
	})
}
