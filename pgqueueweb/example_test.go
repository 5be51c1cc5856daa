package pgqueueweb_test

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// Mount the dashboard under /ops/queue/ in your own server, behind your
// authentication: here HTTP basic auth, where only "ops" may act and
// "viewer" may only look. Use the Postgres or Redis backend your workers
// use; memqueue keeps the example self-contained.
func ExampleHandler() {
	backend := memqueue.New()
	admin := pgqueue.NewAdmin(backend)

	passwords := map[string]string{"ops": "s3cret", "viewer": "look"}
	dashboard := pgqueueweb.Handler(admin, pgqueueweb.Options{
		Authorize: func(r *http.Request, action string) error {
			user, pass, ok := r.BasicAuth()
			want, known := passwords[user]
			a, b := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(want))
			if !ok || !known || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
				return pgqueueweb.ErrUnauthenticated // 401: the browser asks for a password
			}
			if action != pgqueueweb.ActionView && user != "ops" {
				return fmt.Errorf("%s may only look", user)
			}
			return nil
		},
		// The audit log names the basic-auth user by default; Actor
		// overrides that, for example with your session's user.
	})

	mux := http.NewServeMux()
	mux.Handle("/ops/queue/", http.StripPrefix("/ops/queue", dashboard))
	srv := httptest.NewServer(mux) // in production: http.ListenAndServe(addr, mux)
	defer srv.Close()

	for _, user := range []string{"", "viewer", "ops"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ops/queue/jobs", nil)
		if user != "" {
			req.SetBasicAuth(user, passwords[user])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("%q: %d\n", user, resp.StatusCode)
	}
	// Output:
	// "": 401
	// "viewer": 200
	// "ops": 200
}
