package pgqueueweb

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func TestLayoutPutsEachTaskOnePastItsDeepestDependency(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/workflows/1", nil)
	// a → b → d, a → c, (a, d) → e, f alone; z names a task that is not
	// in the list (ignored).
	g := layout(r, []pgqueue.WorkflowTaskInfo{
		{Name: "a", JobID: 1, State: pgqueue.StateCompleted},
		{Name: "f", JobID: 2, State: pgqueue.StateRunning},
		{Name: "b", JobID: 3, State: pgqueue.StateCompleted, DependsOn: []string{"a"}},
		{Name: "c", JobID: 4, State: pgqueue.StateDead, DependsOn: []string{"a", "z"}},
		{Name: "d", JobID: 5, State: pgqueue.StateWaiting, DependsOn: []string{"b"}},
		{Name: "e", JobID: 6, State: pgqueue.StateSkipped, DependsOn: []string{"a", "d"}},
	})
	col := map[string]int{}
	for _, n := range g.Nodes {
		col[n.Name] = (n.X - graphPad) / (nodeW + colGap)
	}
	require.Equal(t, map[string]int{"a": 0, "f": 0, "b": 1, "c": 1, "d": 2, "e": 3}, col)
	require.Equal(t, 4, g.Layers)
	require.Len(t, g.Edges, 5, "a→b, a→c, b→d, a→e, d→e; the unknown z draws nothing")
	require.Equal(t, 2*graphPad+4*nodeW+3*colGap, g.Width)
	require.Equal(t, 2*graphPad+2*nodeH+rowGap, g.Height, "two rows: the tallest layers hold two tasks")
	for _, n := range g.Nodes {
		require.GreaterOrEqual(t, n.Y, graphPad, n.Name)
		require.LessOrEqual(t, n.Y+nodeH, g.Height-graphPad, n.Name)
	}
	require.Equal(t, "/jobs/6", g.Nodes[5].URL)
	require.Equal(t, "skipped", g.Nodes[5].State)
}

func TestShortenKeepsNamesThatFit(t *testing.T) {
	t.Parallel()
	require.Equal(t, "resize", shorten("resize", 22))
	require.Equal(t, "abcdefghi…", shorten("abcdefghijklmnop", 10))
	require.Equal(t, "ééééééééé…", shorten("éééééééééééé", 10), "counts characters, not bytes")
}
