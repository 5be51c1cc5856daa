package pgqueue

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

// Every file in sql/ must be run by the code: named by a field of the
// queries table, or included by a marker of a file that is.
func TestEverySQLFileIsUsedAndEveryStatementRenders(t *testing.T) {
	q, err := renderQueries(`we"ird schema`)
	if err != nil {
		t.Fatalf("rendering the queries table failed: %v", err)
	}
	used := map[string]bool{}
	v := reflect.ValueOf(q)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		used[f.Tag.Get("sql")] = true
		if _, file, ok := strings.Cut(f.Tag.Get("with"), "="); ok && file != "" {
			used[file] = true
		}
		text := v.Field(i).String()
		if strings.Contains(text, "{{") {
			t.Errorf("statement %s still holds an unresolved marker after rendering:\n%s", f.Name, text)
		}
	}
	files, err := fs.Glob(sqlFiles, "sql/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		b, _ := sqlFiles.ReadFile(path)
		for _, m := range markerPattern.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, path := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "sql/"), ".sql")
		if !used[name] {
			t.Errorf("sql/%s.sql is embedded but no statement of the queries table runs it or includes it: delete it or use it", name)
		}
	}
}

// A marker that names no table and no fragment file is an error, not
// silently left in the statement.
func TestRenderStatementRefusesAnUnknownMarker(t *testing.T) {
	_, err := renderStatement("insert", "public", map[string]string{"on_conflict": "no_such_fragment"}, 0)
	if err == nil || !strings.Contains(err.Error(), "no_such_fragment") {
		t.Fatalf("rendering with a missing fragment should fail naming it, got %v", err)
	}
}
