package launcher

import (
	"bytes"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// layout renders a job map as "a:0,1 b:2,3" for compact expectations.
func layout(m *JobMap) string {
	var parts []string
	for _, n := range m.Nodes {
		var rs []string
		for _, r := range n.Ranks {
			rs = append(rs, itoa(r))
		}
		parts = append(parts, n.Host.Name+":"+strings.Join(rs, ","))
	}
	return strings.Join(parts, " ")
}

func itoa(n int) string { return intRanges([]int{n}) }

func TestMapRanks(t *testing.T) {
	ab := []Host{{"a", 2, 0}, {"b", 2, 0}}
	abc := []Host{{"a", 2, 0}, {"b", 1, 0}, {"c", 3, 0}}
	limited := []Host{{"a", 1, 2}, {"b", 1, 0}}
	tests := []struct {
		name  string
		hosts []Host
		opt   MapOptions
		want  string
		over  bool
		err   string
	}{
		{"fill all slots", ab, MapOptions{}, "a:0,1 b:2,3", false, ""},
		{"by slot partial", abc, MapOptions{NP: 3}, "a:0,1 b:2", false, ""},
		{"by slot np 1 uses one node", ab, MapOptions{NP: 1}, "a:0", false, ""},
		{"by node", ab, MapOptions{MapBy: "node"}, "a:0,2 b:1,3", false, ""},
		{"by node uneven slots", abc, MapOptions{MapBy: "node", NP: 6}, "a:0,3 b:1 c:2,4,5", false, ""},
		{"by node np 3", abc, MapOptions{MapBy: "node", NP: 3}, "a:0 b:1 c:2", false, ""},
		{"ppr", abc, MapOptions{MapBy: "ppr:1:node"}, "a:0 b:1 c:2", false, ""},
		{"ppr partial", ab, MapOptions{MapBy: "ppr:2:node", NP: 3}, "a:0,1 b:2", false, ""},
		{"npernode", ab, MapOptions{NPerNode: 1}, "a:0 b:1", false, ""},
		{"npernode with same ppr", ab, MapOptions{NPerNode: 2, MapBy: "ppr:2:node"}, "a:0,1 b:2,3", false, ""},
		{"too many", ab, MapOptions{NP: 5}, "", false, "5 ranks requested but the hosts offer 4 slots (a:2,b:2)"},
		{"too many by node", ab, MapOptions{NP: 5, MapBy: "node"}, "", false, "--oversubscribe"},
		{"oversubscribe by slot spreads evenly", ab, MapOptions{NP: 7, Oversubscribe: true}, "a:0,1,2,3 b:4,5,6", true, ""},
		{"oversubscribe by node", ab, MapOptions{NP: 6, MapBy: "node", Oversubscribe: true}, "a:0,2,4 b:1,3,5", true, ""},
		{"oversubscribe respects max_slots", limited, MapOptions{NP: 4, Oversubscribe: true}, "a:0,1 b:2,3", true, ""},
		{"max_slots exhausted", []Host{{"a", 1, 2}, {"b", 1, 1}}, MapOptions{NP: 4, Oversubscribe: true}, "", false, "max_slots allow only 3"},
		{"ppr beyond slots", ab, MapOptions{MapBy: "ppr:3:node"}, "", false, "3 ranks per node on a exceed its 2 slots"},
		{"ppr beyond slots oversubscribed", ab, MapOptions{MapBy: "ppr:3:node", Oversubscribe: true}, "a:0,1,2 b:3,4,5", true, ""},
		{"ppr beyond max", limited, MapOptions{MapBy: "ppr:3:node", Oversubscribe: true}, "", false, "exceed its max_slots=2"},
		{"ppr too many ranks", ab, MapOptions{MapBy: "ppr:1:node", NP: 3}, "", false, "1 per node on 2 nodes give 2"},
		{"bad map-by", ab, MapOptions{MapBy: "socket"}, "", false, "want slot, node or ppr:N:node"},
		{"bad ppr", ab, MapOptions{MapBy: "ppr:x:node"}, "", false, "ppr"},
		{"bad ppr object", ab, MapOptions{MapBy: "ppr:2:socket"}, "", false, "want ppr:N:node"},
		{"npernode conflicts", ab, MapOptions{NPerNode: 1, MapBy: "node"}, "", false, "conflicts"},
		{"negative np", ab, MapOptions{NP: -1}, "", false, "positive"},
		{"no hosts", nil, MapOptions{}, "", false, "no hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := MapRanks(tc.hosts, tc.opt)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := layout(m); got != tc.want {
				t.Fatalf("layout %q, want %q", got, tc.want)
			}
			if m.Oversubscribed != tc.over {
				t.Errorf("Oversubscribed = %v, want %v", m.Oversubscribed, tc.over)
			}
			// Every rank appears once, and RankNode/RankLocal agree with Nodes.
			if m.Size != len(m.RankNode) {
				t.Fatalf("Size %d, %d RankNode entries", m.Size, len(m.RankNode))
			}
			seen := 0
			for id, n := range m.Nodes {
				if n.ID != id {
					t.Errorf("node %s has ID %d at index %d", n.Host.Name, n.ID, id)
				}
				for local, r := range n.Ranks {
					seen++
					if m.RankNode[r] != id || m.RankLocal[r] != local {
						t.Errorf("rank %d: RankNode %d RankLocal %d, want %d %d", r, m.RankNode[r], m.RankLocal[r], id, local)
					}
				}
			}
			if seen != m.Size {
				t.Errorf("%d ranks placed, Size %d", seen, m.Size)
			}
		})
	}
}

func TestMapRanksNotEnoughIsSentinel(t *testing.T) {
	_, err := MapRanks([]Host{{"a", 1, 0}}, MapOptions{NP: 2})
	if !errors.Is(err, ErrNotEnoughSlots) {
		t.Fatalf("error %v is not ErrNotEnoughSlots", err)
	}
}

func TestWriteMap(t *testing.T) {
	m, err := MapRanks([]Host{{"a", 2, 4}, {"b", 1, 0}}, MapOptions{NP: 3})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := m.WriteMap(&b, "j1", "./prog"); err != nil {
		t.Fatal(err)
	}
	want := " ========================   JOB MAP   ========================\n" +
		"\n Data for node: a\tNum slots: 2\tMax slots: 4\tNum procs: 2\n" +
		" \tProcess jobid: j1 App: ./prog Process rank: 0 Local rank: 0\n" +
		" \tProcess jobid: j1 App: ./prog Process rank: 1 Local rank: 1\n" +
		"\n Data for node: b\tNum slots: 1\tMax slots: unlimited\tNum procs: 1\n" +
		" \tProcess jobid: j1 App: ./prog Process rank: 2 Local rank: 0\n" +
		"\n =============================================================\n"
	if b.String() != want {
		t.Fatalf("map:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPlanBindings(t *testing.T) {
	cores := []Core{{0, 0, []int{0, 2}}, {0, 1, []int{1, 3}}}
	tests := []struct {
		name   string
		policy string
		local  int
		over   bool
		want   [][]int
		err    string
	}{
		{"default binds a core each", BindDefault, 2, false, [][]int{{0, 2}, {1, 3}}, ""},
		{"default unbound when oversubscribed", BindDefault, 2, true, nil, ""},
		{"default unbound with more ranks than cores", BindDefault, 3, false, nil, ""},
		{"none", BindNone, 1, false, nil, ""},
		{"core explicit", BindCore, 1, true, [][]int{{0, 2}}, ""},
		{"core too few", BindCore, 3, false, nil, "3 ranks on n1 but only 2 cores"},
		{"bad", "socket", 1, false, nil, "want core or none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlanBindings(tc.policy, "n1", tc.local, tc.over, cores)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseBindTo(t *testing.T) {
	for in, want := range map[string]string{"": BindDefault, "core": BindCore, "NONE": BindNone} {
		got, err := ParseBindTo(in)
		if err != nil || got != want {
			t.Errorf("ParseBindTo(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseBindTo("hwthread"); err == nil || !strings.Contains(err.Error(), "hwthread") {
		t.Errorf("ParseBindTo(hwthread) error = %v", err)
	}
}

func TestGroupCoresAndFormat(t *testing.T) {
	// Two packages, two cores each, two hardware threads per core; CPU 7's
	// topology is unknown.
	topo := map[int][2]int{0: {0, 0}, 4: {0, 0}, 1: {0, 1}, 5: {0, 1}, 2: {1, 0}, 6: {1, 0}, 3: {1, 1}}
	lookup := func(cpu int) (int, int, bool) {
		p, ok := topo[cpu]
		return p[0], p[1], ok
	}
	cores := groupCores([]int{0, 1, 2, 3, 4, 5, 6, 7}, lookup)
	want := []Core{{0, 0, []int{0, 4}}, {0, 1, []int{1, 5}}, {0, -8, []int{7}}, {1, 0, []int{2, 6}}, {1, 1, []int{3}}}
	if !reflect.DeepEqual(cores, want) {
		t.Fatalf("cores %+v, want %+v", cores, want)
	}
	line := FormatBinding("n1", 42, 3, cores, []int{1, 5})
	if line != "[n1:42] MCW rank 3 bound to socket 0[core 1[hwt 0-1]]: [../BB/.][../.]" {
		t.Errorf("binding line %q", line)
	}
	if got := FormatBinding("n1", 42, 0, cores, nil); got != "[n1:42] MCW rank 0 is not bound (or bound to all available processors)" {
		t.Errorf("unbound line %q", got)
	}
}

func TestStartBound(t *testing.T) {
	cores, err := NodeCores()
	if err != nil {
		t.Fatal(err)
	}
	if len(cores) == 0 {
		t.Fatal("NodeCores found no cores")
	}
	last := cores[len(cores)-1].CPUs
	cmd := exec.Command("sleep", "5")
	if err := StartBound(cmd, last); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	got, err := Affinity(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, last) {
		t.Fatalf("child affinity %v, want %v", got, last)
	}
	// The launcher's own mask is untouched.
	mine, err := NodeCores()
	if err != nil || !reflect.DeepEqual(mine, cores) {
		t.Fatalf("launcher cores changed: %v %v", mine, err)
	}
}
