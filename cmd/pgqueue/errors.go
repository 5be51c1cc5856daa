package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pgqueue/pgqueue"
)

// codedError is an error with the machine-readable code printed beside it
// in --output json mode.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// coded attaches code to err.
func coded(code string, err error) error { return &codedError{code: code, err: err} }

// usageErr is a mistake in the command line: an unknown command or flag,
// a wrong number of arguments, a bad flag value.
func usageErr(format string, a ...any) error { return coded("usage", fmt.Errorf(format, a...)) }

// confirmErr is a destructive command run without its confirming flag.
func confirmErr(format string, a ...any) error {
	return coded("confirmation_required", fmt.Errorf(format, a...))
}

// errorCode classifies err for JSON output. The codes are: usage,
// confirmation_required, unknown_queue, nothing_to_do, bad_url, not_found, job_running,
// not_migrated, invalid_argument, invalid_config, database, and error for
// anything else.
func errorCode(err error) string {
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, pgqueue.ErrJobNotFound):
		return "not_found"
	case errors.Is(err, pgqueue.ErrJobRunning):
		return "job_running"
	case errors.Is(err, pgqueue.ErrNotMigrated):
		return "not_migrated"
	case errors.Is(err, pgqueue.ErrInvalidArgs):
		return "invalid_argument"
	case errors.Is(err, pgqueue.ErrInvalidConfig):
		return "invalid_config"
	case errors.Is(err, pgqueue.ErrDatabase):
		return "database"
	}
	return "error"
}

// errorText is err as one line, without the library's "pgqueue:"
// prefixes (the CLI prints its own), naming the refused field of a
// validation error instead of the library's generic "invalid job".
func errorText(err error) string {
	var ve *pgqueue.ValidationError
	msg := err.Error()
	if errors.As(err, &ve) && !strings.HasPrefix(ve.Error(), "pgqueue: invalid "+strings.ToLower(ve.Field)) {
		msg = strings.Replace(msg, ve.Error(), fmt.Sprintf("invalid %s: %s", strings.ToLower(ve.Field), ve.Reason), 1)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return escapeLine(strings.ReplaceAll(msg, "pgqueue: ", ""))
}

// printError writes err to w: "pgqueue: <message>" on one line, or
// {"error": "...", "code": "..."} when asJSON.
func printError(w io.Writer, err error, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}{errorText(err), errorCode(err)})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "pgqueue: %s\n", errorText(err))
}

// wantsJSON finds -o json among raw arguments, for errors that happen
// before the flags are parsed (an unknown flag before --output).
func wantsJSON(args []string) bool {
	for i, a := range args {
		if a == "--" {
			return false
		}
		switch {
		case a == "-ojson", a == "--output=json", a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}
