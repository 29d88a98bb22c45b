package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

// fakeAlloc is a scheduler's environment: variables, files and the output
// of commands, with nothing read from the machine running the test.
type fakeAlloc struct {
	env   map[string]string
	files map[string]string
	out   map[string]string // command line -> stdout
}

func (f fakeAlloc) allocEnv() AllocEnv {
	return AllocEnv{
		Getenv: func(k string) string { return f.env[k] },
		ReadFile: func(p string) ([]byte, error) {
			s, ok := f.files[p]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
			}
			return []byte(s), nil
		},
		Output: func(name string, args ...string) ([]byte, error) {
			cmd := strings.Join(append([]string{name}, args...), " ")
			s, ok := f.out[cmd]
			if !ok {
				return nil, fmt.Errorf("%s: command not found", name)
			}
			return []byte(s), nil
		},
		OperatorHostfile: "/test/etc/mpi/hostfile",
		NumCPU:           8,
	}
}

const fluxR2 = `{"version": 1, "execution": {"R_lite": [{"rank": "0-2", "children": {"core": "0-3"}}, {"rank": "3", "children": {"core": "0-1", "gpu": "0"}}],
 "starttime": 0, "expiration": 0, "nodelist": ["node[1-3,5]"]}}`

func TestDetectAllocation(t *testing.T) {
	h := func(name string, slots int) Host { return Host{Name: name, Slots: slots} }
	tests := []struct {
		name      string
		f         fakeAlloc
		scheduler string // "" means no allocation found
		source    string
		hosts     []Host
		err       string // substring of the error, naming the variable or file
	}{
		{name: "none", f: fakeAlloc{}},
		{name: "slurm", f: fakeAlloc{env: map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-2]", "SLURM_TASKS_PER_NODE": "2(x2)"}},
			scheduler: "Slurm", source: "SLURM_JOB_NODELIST=n[1-2]", hosts: []Host{h("n1", 2), h("n2", 2)}},
		{name: "slurm first over pbs", f: fakeAlloc{env: map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n1", "PBS_NODEFILE": "/nf"}, files: map[string]string{"/nf": "x\n"}},
			scheduler: "Slurm", hosts: []Host{h("n1", 1)}},
		{name: "slurm bad", f: fakeAlloc{env: map[string]string{"SLURM_JOB_ID": "7"}}, err: "SLURM_JOB_NODELIST"},

		{name: "flux FLUX_R", f: fakeAlloc{env: map[string]string{"FLUX_R": fluxR2}},
			scheduler: "Flux", source: "FLUX_R", hosts: []Host{h("node1", 4), h("node2", 4), h("node3", 4), h("node5", 2)}},
		{name: "flux job info", f: fakeAlloc{env: map[string]string{"FLUX_JOB_ID": "f2Ab"}, out: map[string]string{"flux job info f2Ab R": fluxR2}},
			scheduler: "Flux", source: "flux job info f2Ab R", hosts: []Host{h("node1", 4), h("node2", 4), h("node3", 4), h("node5", 2)}},
		{name: "flux no flux command", f: fakeAlloc{env: map[string]string{"FLUX_JOB_ID": "f2Ab"}}, err: "flux job info f2Ab R: flux: command not found"},
		{name: "flux zero cores", f: fakeAlloc{env: map[string]string{"FLUX_R": `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"gpu":"0"}}],"nodelist":["a"]}}`}},
			err: "FLUX_R: execution.R_lite[0] (rank 0) has no cores: zero slots"},
		{name: "flux version 2", f: fakeAlloc{env: map[string]string{"FLUX_R": `{"version":2}`}}, err: "FLUX_R: version 2: want version 1"},
		{name: "flux not json", f: fakeAlloc{env: map[string]string{"FLUX_R": `node1`}}, err: "FLUX_R: not JSON"},
		{name: "flux nodelist short", f: fakeAlloc{env: map[string]string{"FLUX_R": `{"version":1,"execution":{"R_lite":[{"rank":"0-1","children":{"core":"0"}}],"nodelist":["a"]}}`}},
			err: "FLUX_R: execution.nodelist names 1 hosts but execution.R_lite has 2 ranks"},
		{name: "flux no nodelist", f: fakeAlloc{env: map[string]string{"FLUX_R": `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0"}}]}}`}},
			err: "FLUX_R: no execution.nodelist: cannot name the nodes"},
		{name: "flux bad idset", f: fakeAlloc{env: map[string]string{"FLUX_R": `{"version":1,"execution":{"R_lite":[{"rank":"3-1","children":{"core":"0"}}],"nodelist":["a"]}}`}},
			err: `FLUX_R: execution.R_lite[0].rank: idset "3-1"`},

		{name: "lsf", f: fakeAlloc{env: map[string]string{"LSB_JOBID": "12", "LSB_MCPU_HOSTS": "hostA 4 hostB 2 "}},
			scheduler: "LSF", source: "LSB_MCPU_HOSTS=hostA 4 hostB 2 ", hosts: []Host{h("hostA", 4), h("hostB", 2)}},
		{name: "lsf odd", f: fakeAlloc{env: map[string]string{"LSB_JOBID": "12", "LSB_MCPU_HOSTS": "hostA 4 hostB"}}, err: `LSB_MCPU_HOSTS: 3 words`},
		{name: "lsf zero", f: fakeAlloc{env: map[string]string{"LSB_JOBID": "12", "LSB_MCPU_HOSTS": "hostA 0"}}, err: `LSB_MCPU_HOSTS: host "hostA": slot count "0"`},
		{name: "lsf missing", f: fakeAlloc{env: map[string]string{"LSB_JOBID": "12"}}, err: "LSB_MCPU_HOSTS: LSB_JOBID=12 is set but LSB_MCPU_HOSTS is empty"},

		{name: "grid engine", f: fakeAlloc{env: map[string]string{"PE_HOSTFILE": "/sge/pe", "JOB_ID": "5"},
			files: map[string]string{"/sge/pe": "node1.cluster 4 all.q@node1.cluster UNDEFINED\nnode2.cluster 2 all.q@node2.cluster <NULL>\n\n"}},
			scheduler: "Grid Engine", source: "PE_HOSTFILE=/sge/pe", hosts: []Host{h("node1.cluster", 4), h("node2.cluster", 2)}},
		{name: "grid engine missing file", f: fakeAlloc{env: map[string]string{"PE_HOSTFILE": "/sge/pe"}}, err: "PE_HOSTFILE=/sge/pe: open /sge/pe: file does not exist"},
		{name: "grid engine malformed", f: fakeAlloc{env: map[string]string{"PE_HOSTFILE": "/sge/pe"}, files: map[string]string{"/sge/pe": "a 1 q UNDEFINED\nb\n"}},
			err: "PE_HOSTFILE=/sge/pe line 2: 1 fields"},
		{name: "grid engine zero", f: fakeAlloc{env: map[string]string{"PE_HOSTFILE": "/sge/pe"}, files: map[string]string{"/sge/pe": "a 0 q UNDEFINED\n"}},
			err: `PE_HOSTFILE=/sge/pe line 1: host "a": slots "0"`},
		{name: "grid engine empty", f: fakeAlloc{env: map[string]string{"PE_HOSTFILE": "/sge/pe"}, files: map[string]string{"/sge/pe": "\n"}},
			err: "PE_HOSTFILE=/sge/pe: no hosts listed"},

		{name: "pbs", f: fakeAlloc{env: map[string]string{"PBS_NODEFILE": "/pbs/nf", "PBS_JOBID": "9.srv"}, files: map[string]string{"/pbs/nf": "cn01\ncn01\ncn02\ncn01\n"}},
			scheduler: "PBS", source: "PBS_NODEFILE=/pbs/nf", hosts: []Host{h("cn01", 3), h("cn02", 1)}},
		{name: "pbs missing file", f: fakeAlloc{env: map[string]string{"PBS_NODEFILE": "/pbs/nf"}}, err: "PBS_NODEFILE=/pbs/nf: open /pbs/nf"},
		{name: "pbs malformed", f: fakeAlloc{env: map[string]string{"PBS_NODEFILE": "/pbs/nf"}, files: map[string]string{"/pbs/nf": "cn01\ncn02 4\n"}},
			err: `PBS_NODEFILE=/pbs/nf line 2: "cn02 4": want one host name per line`},
		{name: "pbs empty", f: fakeAlloc{env: map[string]string{"PBS_NODEFILE": "/pbs/nf"}, files: map[string]string{"/pbs/nf": ""}},
			err: "PBS_NODEFILE=/pbs/nf: no hosts listed"},

		{name: "hpc pack", f: fakeAlloc{env: map[string]string{"CCP_NODES": "2 HEAD 4 CN01 8"}},
			scheduler: "HPC Pack", source: "CCP_NODES=2 HEAD 4 CN01 8", hosts: []Host{h("HEAD", 4), h("CN01", 8)}},
		{name: "hpc pack count mismatch", f: fakeAlloc{env: map[string]string{"CCP_NODES": "3 HEAD 4 CN01 8"}}, err: "CCP_NODES: says 3 nodes"},
		{name: "hpc pack bad count", f: fakeAlloc{env: map[string]string{"CCP_NODES": "HEAD 4"}}, err: `CCP_NODES: node count "HEAD"`},
		{name: "hpc pack zero cores", f: fakeAlloc{env: map[string]string{"CCP_NODES": "1 HEAD 0"}}, err: `CCP_NODES: host "HEAD": slot count "0"`},

		{name: "azure host list", f: fakeAlloc{env: map[string]string{"AZ_BATCH_HOST_LIST": "10.0.0.4,10.0.0.5", "AZ_BATCH_NODE_LIST": "10.0.0.4;10.0.0.5",
			"AZ_BATCH_IS_CURRENT_NODE_MASTER": "true", "AZ_BATCH_TASK_SHARED_DIR": "/mnt/batch/tasks/workitems/j/job-1/t/wd"}},
			scheduler: "Azure Batch", source: "AZ_BATCH_HOST_LIST=10.0.0.4,10.0.0.5", hosts: []Host{h("10.0.0.4", 8), h("10.0.0.5", 8)}},
		{name: "azure node list", f: fakeAlloc{env: map[string]string{"AZ_BATCH_NODE_LIST": "10.0.0.4;10.0.0.5"}},
			scheduler: "Azure Batch", source: "AZ_BATCH_NODE_LIST=10.0.0.4;10.0.0.5", hosts: []Host{h("10.0.0.4", 8), h("10.0.0.5", 8)}},
		{name: "azure subtask", f: fakeAlloc{env: map[string]string{"AZ_BATCH_HOST_LIST": "10.0.0.4", "AZ_BATCH_IS_CURRENT_NODE_MASTER": "false"}},
			err: "AZ_BATCH_IS_CURRENT_NODE_MASTER: false"},
		{name: "azure empty name", f: fakeAlloc{env: map[string]string{"AZ_BATCH_HOST_LIST": "10.0.0.4,,10.0.0.5"}}, err: `AZ_BATCH_HOST_LIST: "10.0.0.4,,10.0.0.5": empty host name`},

		{name: "operator open mpi syntax", f: fakeAlloc{files: map[string]string{"/test/etc/mpi/hostfile": "pi-worker-0.pi-worker.default.svc slots=2\npi-worker-1.pi-worker.default.svc slots=2\n"}},
			scheduler: "MPI Operator", source: "/test/etc/mpi/hostfile", hosts: []Host{h("pi-worker-0.pi-worker.default.svc", 2), h("pi-worker-1.pi-worker.default.svc", 2)}},
		{name: "operator hydra syntax", f: fakeAlloc{env: map[string]string{"I_MPI_HYDRA_HOST_FILE": "/etc/mpi/hostfile"}, files: map[string]string{"/etc/mpi/hostfile": "w-0.w:4\nw-1.w:4\n"}},
			scheduler: "MPI Operator", source: "I_MPI_HYDRA_HOST_FILE=/etc/mpi/hostfile", hosts: []Host{h("w-0.w", 4), h("w-1.w", 4)}},
		{name: "operator named but missing", f: fakeAlloc{env: map[string]string{"OMPI_MCA_orte_default_hostfile": "/etc/mpi/hostfile"}},
			err: "OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile: open /etc/mpi/hostfile"},
		{name: "operator zero slots", f: fakeAlloc{files: map[string]string{"/test/etc/mpi/hostfile": "w-0 slots=1\nw-1 slots=0\n"}},
			err: "hostfile /test/etc/mpi/hostfile line 2: slots="},
		{name: "operator malformed", f: fakeAlloc{files: map[string]string{"/test/etc/mpi/hostfile": "w-0 slots 2 cores\n"}},
			err: "hostfile /test/etc/mpi/hostfile line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DetectAllocation(tc.f.allocEnv())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.scheduler == "" {
				if a != nil {
					t.Fatalf("found %+v outside any allocation", a)
				}
				return
			}
			if a == nil {
				t.Fatalf("no allocation found, want %s", tc.scheduler)
			}
			if a.Scheduler != tc.scheduler || (tc.source != "" && a.Source != tc.source) {
				t.Errorf("from %s (%s), want %s (%s)", a.Scheduler, a.Source, tc.scheduler, tc.source)
			}
			if !reflect.DeepEqual(a.Hosts, tc.hosts) {
				t.Errorf("hosts %+v, want %+v", a.Hosts, tc.hosts)
			}
		})
	}
}

func TestAllocErrorLocates(t *testing.T) {
	f := fakeAlloc{env: map[string]string{"PBS_NODEFILE": "/nf"}, files: map[string]string{"/nf": "a\nb c\n"}}
	_, err := DetectAllocation(f.allocEnv())
	var ae *AllocError
	if !errors.As(err, &ae) || ae.Source != "PBS_NODEFILE=/nf" || ae.Line != 2 {
		t.Fatalf("error %v: want an *AllocError for PBS_NODEFILE=/nf line 2", err)
	}
}

func TestAllocationString(t *testing.T) {
	a := &Allocation{Scheduler: "PBS", Source: "PBS_NODEFILE=/nf", JobID: "9", Via: "ssh",
		Hosts: []Host{{Name: "a", Slots: 2}, {Name: "b", Slots: 1, MaxSlots: 4}}}
	want := "======================   ALLOCATED NODES   ======================\n" +
		"  from: PBS (PBS_NODEFILE=/nf)\n  job: 9\n  agents start with: ssh\n" +
		"    a: slots=2\n    b: slots=1 max_slots=4\n  total: 2 nodes, 3 slots\n" +
		"=================================================================\n"
	if got := a.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseIDSet(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  bool
	}{
		{"0", []int{0}, false},
		{"0-3,5", []int{0, 1, 2, 3, 5}, false},
		{"[2-3]", []int{2, 3}, false},
		{"", nil, true},
		{"a", nil, true},
		{"3-1", nil, true},
		{"1,1", nil, true},
		{"-1", nil, true},
		{"0-99999999999", nil, true},
	}
	for _, tc := range tests {
		got, err := parseIDSet(tc.in, maxSlotCount)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseIDSet(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// checkHosts is what every successful decode must give: named hosts with
// at least one slot.
func checkHosts(t *testing.T, hosts []Host) {
	for _, h := range hosts {
		if h.Name == "" || h.Slots < 1 || h.Slots > maxSlotCount {
			t.Fatalf("decoded host %+v", h)
		}
	}
}

func FuzzParseFluxR(f *testing.F) {
	f.Add(fluxR2)
	f.Add(`{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0"}}],"nodelist":["a"]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		if hosts, err := ParseFluxR([]byte(s)); err == nil {
			checkHosts(t, hosts)
		}
	})
}

func FuzzParseCCPNodes(f *testing.F) {
	f.Add("2 HEAD 4 CN01 8")
	f.Add("1 a 0")
	f.Fuzz(func(t *testing.T, s string) {
		if hosts, err := parseCCPNodes(s); err == nil {
			checkHosts(t, hosts)
		}
	})
}

func FuzzParseNodefiles(f *testing.F) {
	f.Add("node1 4 all.q@node1 UNDEFINED\nnode2 2 q <NULL>\n")
	f.Add("cn01\ncn01\ncn02\n")
	f.Fuzz(func(t *testing.T, s string) {
		if hosts, err := parsePEHostfile("PE_HOSTFILE", []byte(s)); err == nil {
			checkHosts(t, hosts)
		}
		if hosts, err := parsePBSNodefile("PBS_NODEFILE", []byte(s)); err == nil {
			checkHosts(t, hosts)
		}
		if hosts, err := parseNameCountPairs(strings.Fields(s)); err == nil {
			checkHosts(t, hosts)
		}
	})
}

// When several systems' signs are present, detection takes them in the
// documented order: Slurm, Flux, LSF, Grid Engine, PBS, HPC Pack, Azure
// Batch, MPI Operator.
func TestDetectAllocationOrder(t *testing.T) {
	all := fakeAlloc{
		env: map[string]string{
			"SLURM_JOB_ID": "1", "SLURM_JOB_NODELIST": "s1",
			"FLUX_R":    `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0"}}],"nodelist":["f1"]}}`,
			"LSB_JOBID": "2", "LSB_MCPU_HOSTS": "l1 1",
			"PE_HOSTFILE": "/pe", "PBS_NODEFILE": "/pbs",
			"CCP_NODES":          "1 c1 1",
			"AZ_BATCH_HOST_LIST": "a1",
		},
		files: map[string]string{"/pe": "g1 1 q UNDEFINED\n", "/pbs": "p1\n", "/test/etc/mpi/hostfile": "k1 slots=1\n"},
	}
	order := []struct{ scheduler, firstVar string }{
		{"Slurm", "SLURM_JOB_ID"}, {"Flux", "FLUX_R"}, {"LSF", "LSB_JOBID"}, {"Grid Engine", "PE_HOSTFILE"},
		{"PBS", "PBS_NODEFILE"}, {"HPC Pack", "CCP_NODES"}, {"Azure Batch", "AZ_BATCH_HOST_LIST"}, {"MPI Operator", ""},
	}
	for _, o := range order {
		a, err := DetectAllocation(all.allocEnv())
		if err != nil || a == nil || a.Scheduler != o.scheduler {
			t.Fatalf("got %+v, %v; want %s next", a, err, o.scheduler)
		}
		delete(all.env, o.firstVar) // then the next one in line
	}
}
