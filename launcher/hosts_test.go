package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	tests := []struct {
		spec string
		want []Host
		err  string
	}{
		{"a:2,b:2", []Host{{Name: "a", Slots: 2}, {Name: "b", Slots: 2}}, ""},
		{"a,a,b", []Host{{Name: "a", Slots: 2}, {Name: "b", Slots: 1}}, ""},
		{"node01", []Host{{Name: "node01", Slots: 1}}, ""},
		{" a:1 , b ", []Host{{Name: "a", Slots: 1}, {Name: "b", Slots: 1}}, ""},
		{"a:2,b,a:3", []Host{{Name: "a", Slots: 5}, {Name: "b", Slots: 1}}, ""},
		{"198.18.0.11:2,198.18.0.12", []Host{{Name: "198.18.0.11", Slots: 2}, {Name: "198.18.0.12", Slots: 1}}, ""},
		{"[fd00::1]:2,[fd00::2]", []Host{{Name: "fd00::1", Slots: 2}, {Name: "fd00::2", Slots: 1}}, ""},
		{"", nil, "empty host name"},
		{"a,,b", nil, "empty host name"},
		{"a:0", nil, "slot count"},
		{"a:x", nil, "slot count"},
		{"a:-1", nil, "slot count"},
		{"a:99999999999", nil, "slot count"},
		{":2", nil, "empty host name"},
		{"a b", nil, "not allowed"},
		{"[fd00::1", nil, "unclosed"},
		{"[fd00::1]x", nil, "want [address]:N"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseHosts(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseHosts(%q) error = %v, want one containing %q", tc.spec, err, tc.err)
				}
				if !strings.Contains(err.Error(), "--host") {
					t.Errorf("error %q does not name --host", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHosts(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseHosts(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

func TestParseHostfile(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Host
		err  string // substring, including the line
	}{
		{"openmpi", "node1 slots=4 max_slots=8\nnode2 slots=2\n", []Host{{"node1", 4, 8}, {"node2", 2, 0}}, ""},
		{"hydra", "node1:4\nnode2:2\nnode3\n", []Host{{"node1", 4, 0}, {"node2", 2, 0}, {"node3", 1, 0}}, ""},
		{"comments and blanks", "# cluster\n\n   \nnode1 slots=2 # two cores\n\t# indented comment\nnode2\n", []Host{{"node1", 2, 0}, {"node2", 1, 0}}, ""},
		{"mixed forms", "a:2\nb slots=3\n", []Host{{"a", 2, 0}, {"b", 3, 0}}, ""},
		{"spaces around equals", "a slots = 3 max_slots= 4\n", []Host{{"a", 3, 4}}, ""},
		{"max-slots spelling and case", "a SLOTS=2 max-slots=2\n", []Host{{"a", 2, 2}}, ""},
		{"count alias", "a count=3\n", []Host{{"a", 3, 0}}, ""},
		{"repeated host adds", "a slots=2 max_slots=4\nb\na slots=1 max_slots=1\n", []Host{{"a", 3, 5}, {"b", 1, 0}}, ""},
		{"repeat without limit is unlimited", "a slots=2 max_slots=4\na slots=1\n", []Host{{"a", 3, 0}}, ""},
		{"no trailing newline", "a slots=2", []Host{{"a", 2, 0}}, ""},
		{"crlf", "a slots=2\r\nb:3\r\n", []Host{{"a", 2, 0}, {"b", 3, 0}}, ""},
		{"bad slots", "a slots=2\nb slots=x\n", nil, "line 2: slots="},
		{"zero slots", "\n\na slots=0\n", nil, "line 3: slots="},
		{"unknown key", "a slots=2 cpus=3\n", nil, `line 1: unknown key "cpus"`},
		{"missing value form", "a 4\n", nil, "line 1: \"4\": want key=value"},
		{"max below slots", "a slots=4 max_slots=2\n", nil, "line 1: max_slots=2 is below slots=4"},
		{"hydra and slots", "a:2 slots=3\n", nil, "line 1: \"a:2\" has both"},
		{"bad hydra count", "# x\na:zero\n", nil, "line 2: \"a:zero\": slot count"},
		{"key first", "slots=2\n", nil, "line 1: line starts with"},
		{"twice", "a slots=1 slots=2\n", nil, "line 1: slots given twice"},
		{"empty", "# nothing\n\n", nil, "no hosts listed"},
		{"bad character", "a/b slots=1\n", nil, "line 1: host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHostfile("hosts.txt", strings.NewReader(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "hostfile hosts.txt") {
					t.Errorf("error %q does not start with the file name", err)
				}
				var he *HostfileError
				if !errors.As(err, &he) || he.File != "hosts.txt" {
					t.Errorf("error %v is not a *HostfileError for hosts.txt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadHostfile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hf")
	if err := os.WriteFile(p, []byte("x slots=2\ny:1\nz slots=q\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadHostfile(p)
	var he *HostfileError
	if !errors.As(err, &he) || he.File != p || he.Line != 3 {
		t.Fatalf("ReadHostfile error = %v, want a HostfileError at %s line 3", err, p)
	}
	_, err = ReadHostfile(filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), "missing") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing hostfile: error = %v", err)
	}
}

func TestExpandNodeList(t *testing.T) {
	tests := []struct {
		list string
		want []string
		err  string
	}{
		{"node[01-04,07],gpu[1-2]", []string{"node01", "node02", "node03", "node04", "node07", "gpu1", "gpu2"}, ""},
		{"a,b,c", []string{"a", "b", "c"}, ""},
		{"n[8-11]", []string{"n8", "n9", "n10", "n11"}, ""},
		{"n[008-011]", []string{"n008", "n009", "n010", "n011"}, ""},
		{"n[1]", []string{"n1"}, ""},
		{"r[1-2]n[01-02]", []string{"r1n01", "r1n02", "r2n01", "r2n02"}, ""},
		{"n[1-2]-ib", []string{"n1-ib", "n2-ib"}, ""},
		{"[1-2]x", []string{"1x", "2x"}, ""},
		{"localhost", []string{"localhost"}, ""},
		{"n[1-2], m", []string{"n1", "n2", "m"}, ""},
		{"", nil, "empty"},
		{"n[1-2", nil, "unclosed"},
		{"n1-2]", nil, "without '['"},
		{"n[[1]]", nil, "nested"},
		{"n[]", nil, "empty brackets"},
		{"n[3-1]", nil, "backwards"},
		{"n[a-b]", nil, "not a number"},
		{"n[1,,2]", nil, "range bound"},
		{"a,,b", nil, "empty name"},
		{"n[0-999999999]", nil, "more than"},
		{"n[1-2]m[0-99999]", nil, "more than"},
		{"n@1", nil, "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.list, func(t *testing.T) {
			got, err := ExpandNodeList(tc.list)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTasksPerNode(t *testing.T) {
	tests := []struct {
		s    string
		want []int
		err  string
	}{
		{"2(x3),1", []int{2, 2, 2, 1}, ""},
		{"4", []int{4}, ""},
		{"1,2,3", []int{1, 2, 3}, ""},
		{"16(x2)", []int{16, 16}, ""},
		{"", nil, "empty"},
		{"2(x0)", nil, "repeat"},
		{"2(3)", nil, "want N or N(xM)"},
		{"2(x3", nil, "want N or N(xM)"},
		{"x,1", nil, "count"},
		{"0", nil, "count"},
		{"1(x999999)", nil, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.s, func(t *testing.T) {
			got, err := ParseTasksPerNode(tc.s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
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

func TestSlurmHosts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want []Host
		err  string
	}{
		{"outside", map[string]string{}, false, nil, ""},
		{"tasks", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-3]", "SLURM_TASKS_PER_NODE": "2(x2),1"}, true,
			[]Host{{"n1", 2, 0}, {"n2", 2, 0}, {"n3", 1, 0}}, ""},
		{"cpus fallback", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "a,b", "SLURM_JOB_CPUS_PER_NODE": "4(x2)"}, true,
			[]Host{{"a", 4, 0}, {"b", 4, 0}}, ""},
		{"old nodelist name", map[string]string{"SLURM_JOB_ID": "7", "SLURM_NODELIST": "a"}, true, []Host{{"a", 1, 0}}, ""},
		{"mismatch", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-3]", "SLURM_TASKS_PER_NODE": "2(x2)"}, true, nil,
			`SLURM_TASKS_PER_NODE="2(x2)" gives 2 counts but SLURM_JOB_NODELIST="n[1-3]" names 3 nodes`},
		{"no nodelist", map[string]string{"SLURM_JOB_ID": "7"}, true, nil, "SLURM_JOB_NODELIST is not"},
		{"bad nodelist", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-"}, true, nil, "SLURM_JOB_NODELIST: slurm node list"},
		{"bad counts", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n1", "SLURM_TASKS_PER_NODE": "q"}, true, nil, "SLURM_TASKS_PER_NODE: tasks-per-node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := SlurmHosts(func(k string) string { return tc.env[k] })
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseHostfile(f *testing.F) {
	for _, s := range []string{
		"node1 slots=4 max_slots=8\nnode2 slots=2\n",
		"node1:4\nnode2:2\n# comment\n\n",
		"a slots = 3\n[fd00::1]:2\n",
		"a slots=4 max_slots=2\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		hosts, err := ParseHostfile("fuzz", strings.NewReader(text))
		if err != nil {
			var he *HostfileError
			if !errors.As(err, &he) || !strings.HasPrefix(err.Error(), "hostfile fuzz") {
				t.Fatalf("error %q is not a HostfileError naming the file", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if h.Name == "" || h.Slots < 1 || h.MaxSlots < 0 || (h.MaxSlots > 0 && h.MaxSlots < h.Slots) || seen[h.Name] {
				t.Fatalf("bad host %+v from %q", h, text)
			}
			seen[h.Name] = true
		}
	})
}

func FuzzParseHosts(f *testing.F) {
	for _, s := range []string{"a:2,b:2", "a,a,b", "[fd00::1]:2", "198.18.0.11"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		hosts, err := ParseHosts(spec)
		if err != nil {
			return
		}
		total := 0
		for _, h := range hosts {
			if h.Name == "" || h.Slots < 1 {
				t.Fatalf("bad host %+v from %q", h, spec)
			}
			total += h.Slots
		}
		if total < len(strings.Split(spec, ",")) {
			t.Fatalf("%q: %d slots from %d items", spec, total, len(strings.Split(spec, ",")))
		}
	})
}

func FuzzExpandNodeList(f *testing.F) {
	for _, s := range []string{"node[01-04,07],gpu[1-2]", "a,b", "r[1-2]n[1-2]", "n[008-011]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		names, err := ExpandNodeList(list)
		if err != nil {
			return
		}
		if len(names) == 0 || len(names) > maxNodes {
			t.Fatalf("%q expanded to %d names", list, len(names))
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "[],") {
				t.Fatalf("%q expanded to bad name %q", list, n)
			}
		}
	})
}

func FuzzParseTasksPerNode(f *testing.F) {
	for _, s := range []string{"2(x3),1", "4", "1,2,3", "16(x2)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		counts, err := ParseTasksPerNode(s)
		if err != nil {
			return
		}
		if len(counts) < len(strings.Split(s, ",")) {
			t.Fatalf("%q gave %d counts", s, len(counts))
		}
		for _, c := range counts {
			if c < 1 {
				t.Fatalf("%q gave count %d", s, c)
			}
		}
	})
}
