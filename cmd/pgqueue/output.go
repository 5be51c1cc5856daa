package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// printJSON writes v as indented JSON. encoding/json escapes control
// characters, so job data cannot reach a terminal raw this way either.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeOrNil returns nil for the zero time, so that `omitempty` leaves it
// out of JSON, and the time in UTC otherwise.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// escapeLine makes s safe to print on one line of a terminal: control
// characters (C0, DEL, C1: the ESC of `\x1b]0;title\x07` included),
// bidirectional overrides and invalid UTF-8 are shown as Go escapes
// (\x1b, \u202e), and newlines and tabs too.
func escapeLine(s string) string { return escape(s, false) }

// escapeText is escapeLine that keeps newlines and tabs, for multi-line
// text such as stack traces.
func escapeText(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) || (r == '\n' || r == '\t') && !keepLines {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x80 && (unicode.IsControl(r)):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether r can change a terminal's state or what the
// text around it looks like.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || // C0, DEL and C1
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) // bidi embeddings, overrides, isolates
}

// indent escapes multi-line text and indents every line by prefix.
func indent(text, prefix string) string {
	lines := strings.Split(strings.TrimRight(escapeText(text), "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// metadataText formats metadata as sorted, escaped key=value pairs, or "-".
func metadataText(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = escapeLine(k) + "=" + escapeLine(m[k])
	}
	return strings.Join(parts, " ")
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// cell formats one value for a table cell or a one-line field, escaping
// text.
func cell(v any) string {
	switch v := v.(type) {
	case time.Time:
		if v.IsZero() {
			return "-"
		}
		return v.UTC().Format(time.RFC3339)
	case time.Duration:
		return v.Round(time.Millisecond).String()
	case string:
		if v == "" {
			return "-"
		}
		return escapeLine(strings.Join(strings.Fields(v), " "))
	default:
		return escapeLine(fmt.Sprint(v))
	}
}

// truncate shortens s to n runes for table cells, escaped.
func truncate(s string, n int) string {
	r := []rune(escapeLine(strings.Join(strings.Fields(s), " ")))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
