package pgqueue_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// postgresFile reports whether a file of the root package belongs to the
// Postgres backend. Every other non-test file is engine code: the Client,
// its loops and the capability interfaces, which drive any Backend.
func postgresFile(name string) bool {
	return strings.HasPrefix(name, "postgres") || name == "listen.go" || name == "sql.go" ||
		name == "migrate.go" || name == "admin.go"
}

// callerHandleFiles may name pgx's types: they take the caller's own
// transaction (DBTX, CopyDBTX), which is the point of them.
var callerHandleFiles = map[string]bool{"tx.go": true, "copy.go": true}

// postgresNames returns the names only the Postgres backend's files
// declare: their unexported top-level names, and the fields and methods of
// PostgresBackend, minus any name engine files also declare (a method or
// field of their own of the same name is not a reach-in).
func postgresNames(t *testing.T, fset *token.FileSet, pg, engine map[string]*ast.File) map[string]bool {
	t.Helper()
	names := map[string]bool{"PostgresBackend": true, "PostgresOptions": true, "NewPostgres": true}
	for _, f := range pg {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !ast.IsExported(d.Name.Name) || receiverName(d) == "PostgresBackend" {
					names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !ast.IsExported(s.Name.Name) {
							names[s.Name.Name] = true
						}
						if s.Name.Name == "PostgresBackend" {
							for _, fld := range s.Type.(*ast.StructType).Fields.List {
								for _, n := range fld.Names {
									names[n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if !ast.IsExported(n.Name) && n.Name != "_" {
								names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	// Names the engine declares itself (fields, methods, functions, local
	// identifiers in declarations) are its own.
	for _, f := range engine {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				delete(names, n.Name.Name)
			case *ast.Field:
				for _, id := range n.Names {
					delete(names, id.Name)
				}
			case *ast.AssignStmt:
				if n.Tok == token.DEFINE {
					for _, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok {
							delete(names, id.Name)
						}
					}
				}
			case *ast.ValueSpec:
				for _, id := range n.Names {
					delete(names, id.Name)
				}
			case *ast.TypeSpec:
				delete(names, n.Name.Name)
			case *ast.RangeStmt:
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						delete(names, id.Name)
					}
				}
			}
			return true
		})
	}
	return names
}

// reachIns lists where an engine file names pgx or a Postgres-only name.
func reachIns(fset *token.FileSet, name string, f *ast.File, pgNames map[string]bool) []string {
	var out []string
	if !callerHandleFiles[name] {
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "github.com/jackc/") {
				out = append(out, fset.Position(imp.Pos()).String()+": imports "+imp.Path.Value)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if ok && pgNames[id.Name] {
			out = append(out, fset.Position(id.Pos()).String()+": names "+id.Name+", which only the Postgres backend declares")
		}
		return true
	})
	return out
}

// The engine drives any Backend through interfaces only. An engine file
// that names PostgresBackend, pgx or an unexported Postgres name couples
// every backend to Postgres; this test fails on the first such reference.
func TestEngineFilesDoNotReachIntoThePostgresBackend(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	pg, engine := map[string]*ast.File{}, map[string]*ast.File{}
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if postgresFile(p) {
			pg[p] = f
		} else {
			engine[p] = f
		}
	}
	if len(pg) == 0 || engine["engine.go"] == nil || engine["pgqueue.go"] == nil {
		t.Fatalf("the file split looks wrong: postgres files %d, engine files %v", len(pg), keys(engine))
	}
	names := postgresNames(t, fset, pg, engine)
	if !names["pool"] || !names["dbErr"] {
		t.Fatalf("the Postgres-only names should include the backend's pool and dbErr: %v", keys(names))
	}
	var found []string
	for name, f := range engine {
		found = append(found, reachIns(fset, name, f, names)...)
	}
	sort.Strings(found)
	if len(found) > 0 {
		t.Errorf("engine code reaches into the Postgres backend; use a capability interface (capabilities.go) instead:\n%s", strings.Join(found, "\n"))
	}
}

// receiverName is the name of a method's receiver type; "" for a function.
func receiverName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return ""
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
