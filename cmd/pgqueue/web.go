package main

// pgqueue web: the dashboard (package pgqueueweb) served on its own.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/pgqueue/pgqueue/pgqueueweb"
)

func newWebCmd(g *globals) *cobra.Command {
	var (
		addr     string
		authFile string
		readOnly bool
	)
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Serve the web dashboard (jobs, dead letters, queues, clients)",
		Long: "web serves the pgqueue dashboard over HTTP for the store named by --database-url/--schema or --redis-url/--redis-prefix. " +
			"It listens on 127.0.0.1:8080 unless --addr says otherwise, and refuses an address that is not loopback " +
			"unless --basic-auth-file or --read-only is given. --basic-auth-file names a file of user:password lines, " +
			"the password either a bcrypt hash ($2a$, $2b$ or $2y$, as htpasswd -B writes it: recommended) or plain text " +
			"(compared in constant time); blank lines and lines starting with # are skipped. Every request then " +
			"needs one of those users, whose name goes into the audit log. Every action is logged to stderr. " +
			"It stops on Ctrl-C.",
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loopback(addr); err != nil {
				return err
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			lo, _ := loopback(addr)
			var users map[string]string
			if authFile != "" {
				var err error
				if users, err = readBasicAuth(authFile); err != nil {
					return err
				}
			}
			if !lo && users == nil && !readOnly {
				return usageErr("refusing to serve the dashboard on %s, which is not a loopback address, without authentication: pass --basic-auth-file FILE (lines user:password) or --read-only, or listen on 127.0.0.1", addr)
			}
			s, err := g.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			var h http.Handler = pgqueueweb.Handler(s.admin, pgqueueweb.Options{ReadOnly: readOnly, Logger: logger})
			if users != nil {
				h = basicAuth(users, h)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return coded("listen", fmt.Errorf("listen on %s: %w", addr, err))
			}
			mode := ""
			if readOnly {
				mode = ", read-only"
			}
			if users != nil {
				mode += fmt.Sprintf(", basic auth (%d user(s))", len(users))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pgqueue web: serving %s on http://%s/%s\n", s.where, ln.Addr(), mode)
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return coded("listen", err)
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return err
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on, host:port; a host that is not loopback needs --basic-auth-file or --read-only")
	cmd.Flags().StringVar(&authFile, "basic-auth-file", "", "file of user:password lines; every request must authenticate as one of them (HTTP basic auth)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "refuse every action (retry, cancel, delete, requeue, purge, pause, limits); pages stay readable")
	return cmd
}

// loopback reports whether addr (host:port) listens on loopback only:
// "localhost" or a loopback IP. An empty host, a wildcard or any other
// name is not.
func loopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, usageErr("--addr %q is not host:port (for example 127.0.0.1:8080): %v", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// readBasicAuth reads a file of user:password lines.
func readBasicAuth(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("--basic-auth-file: %v", err)
	}
	defer f.Close()
	users := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" || pass == "" {
			return nil, usageErr("--basic-auth-file %s, line %d: want user:password (neither empty)", path, n)
		}
		users[user] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr("--basic-auth-file %s: %v", path, err)
	}
	if len(users) == 0 {
		return nil, usageErr("--basic-auth-file %s holds no user:password line", path)
	}
	return users, nil
}

// isBcrypt reports whether a password field of the auth file is a bcrypt
// hash.
func isBcrypt(p string) bool {
	return len(p) == 60 && (strings.HasPrefix(p, "$2a$") || strings.HasPrefix(p, "$2b$") || strings.HasPrefix(p, "$2y$"))
}

// basicAuth lets through only requests that authenticate as one of users.
// A plain password is compared in constant time, through its SHA-256 so
// that its length does not show either, and an unknown user costs the
// same comparison as a known one. A bcrypt hash is checked with bcrypt,
// once per distinct credentials: a page load sends them with every asset,
// and bcrypt is slow on purpose, so credentials that passed are
// remembered (by their SHA-256) while the server runs.
func basicAuth(users map[string]string, next http.Handler) http.Handler {
	hashed := make(map[string][32]byte, len(users))
	bcrypted := map[string][]byte{}
	for u, p := range users {
		if isBcrypt(p) {
			bcrypted[u] = []byte(p)
			continue
		}
		hashed[u] = sha256.Sum256([]byte(p))
	}
	var (
		nobody   [32]byte
		passedMu sync.Mutex
		passed   = map[[32]byte]bool{}
	)
	check := func(user, pass string) bool {
		if hash, ok := bcrypted[user]; ok {
			key := sha256.Sum256([]byte(user + "\x00" + pass))
			passedMu.Lock()
			seen := passed[key]
			passedMu.Unlock()
			if seen {
				return true
			}
			if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
				return false
			}
			passedMu.Lock()
			if len(passed) < 1024 {
				passed[key] = true
			}
			passedMu.Unlock()
			return true
		}
		want, known := hashed[user]
		if !known {
			want = nobody
		}
		got := sha256.Sum256([]byte(pass))
		return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !check(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="pgqueue", charset="UTF-8"`)
			http.Error(w, "pgqueue web: authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
