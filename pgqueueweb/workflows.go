package pgqueueweb

// The workflow pages: the list, one workflow with its graph and tasks,
// the confirmation of a cancel, and the cancel and retry actions.

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pgqueue/pgqueue"
)

// workflowPageSize is how many workflows the list shows per page.
const workflowPageSize = 50

// maxGraphTasks bounds the graph: a workflow with more tasks is shown as
// its table only, which stays readable and cheap to render.
const maxGraphTasks = 300

// workflowsUnsupported explains the pages on a backend without workflows.
const workflowsUnsupported = "Workflows are not supported on this backend: it does not store them (pgqueue.WorkflowStore; Postgres and memory do, Redis does not), so there is nothing to show."

// workflowRow is a workflow in the list, with its progress.
type workflowRow struct {
	pgqueue.WorkflowInfo
	// Finished counts the tasks that are no longer waiting or active.
	Finished int
	// Percent is Finished of Tasks, 0 to 100.
	Percent int
}

func rowOf(w pgqueue.WorkflowInfo) workflowRow {
	r := workflowRow{WorkflowInfo: w, Finished: max(0, w.Tasks-w.Waiting-w.Active)}
	if w.Tasks > 0 {
		r.Percent = r.Finished * 100 / w.Tasks
	}
	return r
}

// workflowsData is the list page.
type workflowsData struct {
	Unsupported string
	Workflows   []workflowRow
	Next        string
	First       string
}

func (s *server) workflows(w http.ResponseWriter, r *http.Request) (string, any, error) {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return "", nil, httpErr(http.StatusBadRequest, "before: %q is not a workflow ID (a whole number above 0)", v)
		}
		before = n
	}
	list, err := s.admin.Workflows(r.Context(), before, workflowPageSize)
	if errors.Is(err, pgqueue.ErrUnsupported) {
		return "workflows", &workflowsData{Unsupported: workflowsUnsupported}, nil
	}
	if err != nil {
		return "", nil, err
	}
	d := &workflowsData{Workflows: make([]workflowRow, 0, len(list))}
	for _, wf := range list {
		d.Workflows = append(d.Workflows, rowOf(wf))
	}
	if len(list) == workflowPageSize {
		d.Next = prefixOf(r) + "/workflows?" + url.Values{"before": {strconv.FormatInt(list[len(list)-1].ID, 10)}}.Encode()
	}
	if before != 0 {
		d.First = prefixOf(r) + "/workflows"
	}
	return "workflows", d, nil
}

// workflowData is the detail page.
type workflowData struct {
	Workflow workflowRow
	Tasks    []taskRow
	Graph    *graph
	// TooBig is true when the workflow has more tasks than the graph shows.
	TooBig   bool
	MaxGraph int
	Flash    *flash
	// CanCancel: some task is still waiting or active. CanRetry: the
	// workflow has finished and some task failed or was cancelled.
	CanCancel bool
	CanRetry  bool
}

// taskRow is a task in the table, with its job's URL.
type taskRow struct {
	pgqueue.WorkflowTaskInfo
	URL string
}

// workflowID reads the {id} of a workflow's path.
func workflowID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpErr(http.StatusNotFound, "%q is not a workflow ID", r.PathValue("id"))
	}
	return id, nil
}

// findWorkflow reads workflow id, with errors a visitor understands.
func (s *server) findWorkflow(r *http.Request, id int64) (*pgqueue.WorkflowInfo, []pgqueue.WorkflowTaskInfo, error) {
	wf, tasks, err := s.admin.Workflow(r.Context(), id)
	switch {
	case errors.Is(err, pgqueue.ErrUnsupported):
		return nil, nil, httpErr(http.StatusNotImplemented, "%s", workflowsUnsupported)
	case errors.Is(err, pgqueue.ErrJobNotFound):
		return nil, nil, httpErr(http.StatusNotFound, "workflow %d was not found: it finished and its record was pruned (see Config.WorkflowRetention), or it never existed", id)
	case err != nil:
		return nil, nil, err
	}
	return wf, tasks, nil
}

func (s *server) workflow(w http.ResponseWriter, r *http.Request) (string, any, error) {
	id, err := workflowID(r)
	if err != nil {
		return "", nil, err
	}
	wf, tasks, err := s.findWorkflow(r, id)
	if err != nil {
		return "", nil, err
	}
	d := &workflowData{Workflow: rowOf(*wf), MaxGraph: maxGraphTasks, Flash: workflowFlash(r)}
	d.Tasks = make([]taskRow, len(tasks))
	for i, t := range tasks {
		d.Tasks[i] = taskRow{WorkflowTaskInfo: t, URL: jobURL(r, t.JobID, nil)}
	}
	if len(tasks) > maxGraphTasks {
		d.TooBig = true
	} else if len(tasks) > 0 {
		d.Graph = layout(r, tasks)
	}
	d.CanCancel = wf.Status == pgqueue.WorkflowRunning
	d.CanRetry = wf.Status == pgqueue.WorkflowFailed || wf.Status == pgqueue.WorkflowCancelled
	return "workflow", d, nil
}

// workflowFlash is the message after a workflow action: "done" is cancel
// or retry, "tasks" how many tasks it changed.
func workflowFlash(r *http.Request) *flash {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("tasks"))
	if err != nil || n < 0 {
		return nil
	}
	switch q.Get("done") {
	case ActionCancel:
		return &flash{Text: fmt.Sprintf("Cancelled %d task(s) of the workflow.", n)}
	case ActionRetry:
		return &flash{Text: fmt.Sprintf("Retried %d task(s) of the workflow: the failed and cancelled ones went back; completed ones are not run again.", n)}
	}
	return nil
}

// workflowConfirmData is the confirmation of cancelling a workflow.
type workflowConfirmData struct {
	Workflow workflowRow
	Back     string
}

// workflowConfirm is GET /workflows/{id}/cancel: a page that shows what a
// cancel will do, with the form that does it.
func (s *server) workflowConfirm(w http.ResponseWriter, r *http.Request) (string, any, error) {
	id, err := workflowID(r)
	if err != nil {
		return "", nil, err
	}
	if err := s.allowAction(r, ActionCancel); err != nil {
		return "", nil, err
	}
	wf, _, err := s.findWorkflow(r, id)
	if err != nil {
		return "", nil, err
	}
	return "workflow_confirm", &workflowConfirmData{Workflow: rowOf(*wf), Back: workflowURL(r, id, nil)}, nil
}

// workflowAction is POST /workflows/{id}/{action}: cancel or retry.
func (s *server) workflowAction(w http.ResponseWriter, r *http.Request) (string, error) {
	action := r.PathValue("action")
	if action != ActionCancel && action != ActionRetry {
		return "", httpErr(http.StatusNotFound, "unknown workflow action %q (want cancel or retry)", action)
	}
	id, err := workflowID(r)
	if err != nil {
		return "", err
	}
	if err := s.allowAction(r, action); err != nil {
		s.audit(r, action, err, slog.Int64("workflow", id))
		return "", err
	}
	ctx := r.Context()
	var n int
	if action == ActionCancel {
		n, err = s.admin.CancelWorkflow(ctx, id)
	} else {
		n, err = s.admin.RetryWorkflow(ctx, id)
		if errors.Is(err, pgqueue.ErrInvalidArgs) {
			// The only refusal of a valid ID: the workflow is still running.
			err = httpErr(http.StatusConflict, "workflow %d cannot be retried yet: %v", id, err)
		}
	}
	switch {
	case errors.Is(err, pgqueue.ErrUnsupported):
		err = httpErr(http.StatusNotImplemented, "%s", workflowsUnsupported)
	case errors.Is(err, pgqueue.ErrJobNotFound):
		err = httpErr(http.StatusNotFound, "workflow %d was not found: it finished and its record was pruned, or it never existed", id)
	}
	s.audit(r, action, err, slog.Int64("workflow", id), slog.Int("tasks", n))
	if err != nil {
		return "", err
	}
	s.forgetStats()
	return workflowURL(r, id, url.Values{"done": {action}, "tasks": {strconv.Itoa(n)}}), nil
}

// workflowURL is a workflow's detail page.
func workflowURL(r *http.Request, id int64, v url.Values) string {
	u := prefixOf(r) + "/workflows/" + strconv.FormatInt(id, 10)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// Graph geometry, in SVG user units: tasks flow left to right, one
// column per layer.
const (
	nodeW    = 180
	nodeH    = 46
	colGap   = 60
	rowGap   = 14
	graphPad = 12
	// nodeChars is how much of a task's name fits in a box; the full name
	// is in the node's title and the table.
	nodeChars = 20
)

// graph is a workflow's tasks laid out for the SVG.
type graph struct {
	Width, Height int
	Nodes         []node
	Edges         []edge
	Layers        int
}

// node is one task's box.
type node struct {
	Name  string
	Label string
	State string
	URL   string
	X, Y  int
	W, H  int
	// TextX, NameY and StateY place the two lines of text.
	TextX, NameY, StateY int
}

// edge is one dependency, drawn from the dependency to its dependent.
type edge struct {
	From, To string
	D        string
}

// layout places each task in a layer (1 + the deepest layer of its
// dependencies; 0 without any), orders each layer by the mean position
// of the tasks' dependencies to keep edges short, and draws an edge per
// dependency. Tasks come in dependency order, so one pass suffices; a
// dependency that is not a task of the list is ignored.
func layout(r *http.Request, tasks []pgqueue.WorkflowTaskInfo) *graph {
	index := make(map[string]int, len(tasks))
	for i, t := range tasks {
		index[t.Name] = i
	}
	layerOf := make([]int, len(tasks))
	layers := 0
	for i, t := range tasks {
		l := 0
		for _, dep := range t.DependsOn {
			if j, ok := index[dep]; ok && j != i {
				l = max(l, layerOf[j]+1)
			}
		}
		layerOf[i] = l
		layers = max(layers, l+1)
	}
	// Rows: each layer in order of the mean row of its tasks'
	// dependencies (their order of addition when equal).
	cols := make([][]int, layers)
	rowOf := make([]int, len(tasks))
	for i := range tasks {
		cols[layerOf[i]] = append(cols[layerOf[i]], i)
	}
	for l, col := range cols {
		if l > 0 {
			key := make(map[int]float64, len(col))
			for _, i := range col {
				sum, n := 0.0, 0
				for _, dep := range tasks[i].DependsOn {
					if j, ok := index[dep]; ok && layerOf[j] < l {
						sum += float64(rowOf[j])
						n++
					}
				}
				if n > 0 {
					key[i] = sum / float64(n)
				}
			}
			slices.SortStableFunc(col, func(a, b int) int { return cmp.Compare(key[a], key[b]) })
		}
		for row, i := range col {
			rowOf[i] = row
		}
	}
	tallest := 0
	for _, col := range cols {
		tallest = max(tallest, len(col))
	}
	g := &graph{
		Layers: layers,
		Width:  2*graphPad + layers*nodeW + (layers-1)*colGap,
		Height: 2*graphPad + tallest*nodeH + max(0, tallest-1)*rowGap,
	}
	pos := make([][2]int, len(tasks))
	for i, t := range tasks {
		// Each column is centred vertically.
		col := cols[layerOf[i]]
		offset := (tallest - len(col)) * (nodeH + rowGap) / 2
		x := graphPad + layerOf[i]*(nodeW+colGap)
		y := graphPad + offset + rowOf[i]*(nodeH+rowGap)
		pos[i] = [2]int{x, y}
		g.Nodes = append(g.Nodes, node{
			Name: t.Name, Label: shorten(t.Name, nodeChars), State: string(t.State), URL: jobURL(r, t.JobID, nil),
			X: x, Y: y, W: nodeW, H: nodeH, TextX: x + 10, NameY: y + 19, StateY: y + 37,
		})
	}
	for i, t := range tasks {
		for _, dep := range t.DependsOn {
			j, ok := index[dep]
			if !ok || layerOf[j] >= layerOf[i] {
				continue
			}
			g.Edges = append(g.Edges, edge{From: dep, To: t.Name, D: route(cols, layerOf[j], layerOf[i], tallest, pos[j], pos[i])})
		}
	}
	return g
}

// route draws the edge from the box at from (in layer a) to the box at
// to (in layer b > a). An edge that skips layers runs through each layer
// in between along the free lane (above, between or below its boxes)
// nearest to a straight line, so it never passes behind a box; between
// layers it curves, leaving and entering each box horizontally.
func route(cols [][]int, a, b, tallest int, from, to [2]int) string {
	x, y := from[0]+nodeW, from[1]+nodeH/2
	x2, y2 := to[0], to[1]+nodeH/2
	var d strings.Builder
	fmt.Fprintf(&d, "M%d,%d", x, y)
	curve := func(nx, ny int) {
		mid := (x + nx) / 2
		fmt.Fprintf(&d, " C%d,%d %d,%d %d,%d", mid, y, mid, ny, nx, ny)
		x, y = nx, ny
	}
	for l := a + 1; l < b; l++ {
		left := graphPad + l*(nodeW+colGap)
		want := y + (y2-y)*(left-x)/max(1, x2-x)
		n := len(cols[l])
		top := graphPad + (tallest-n)*(nodeH+rowGap)/2
		lane := top - rowGap/2
		for k := range n {
			if c := top + k*(nodeH+rowGap) + nodeH + rowGap/2; abs(c-want) < abs(lane-want) {
				lane = c
			}
		}
		curve(left, lane)
		fmt.Fprintf(&d, " L%d,%d", left+nodeW, lane)
		x = left + nodeW
	}
	curve(x2-4, y2) // the arrowhead covers the last units
	return d.String()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// shorten cuts s to n characters, ending in "…" when cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
