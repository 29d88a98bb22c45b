package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// schedulerVars are the variables allocation detection reads.
var schedulerVars = []string{"SLURM_", "FLUX_", "LSB_", "PE_HOSTFILE=", "PBS_", "CCP_", "AZ_BATCH_",
	"OMPI_MCA_orte_default_hostfile=", "I_MPI_HYDRA_HOST_FILE=", "HYDRA_HOST_FILE="}

// inAllocation gives the test (and the mpx it starts) the scheduler
// variables vars and none of the machine's own.
func inAllocation(t *testing.T, vars map[string]string) {
	for _, kv := range os.Environ() {
		for _, p := range schedulerVars {
			if strings.HasPrefix(kv, p) {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v) // restored at the end
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

func TestDisplayAllocation(t *testing.T) {
	dir := t.TempDir()
	nodefile := filepath.Join(dir, "nodefile")
	if err := os.WriteFile(nodefile, []byte("localhost\nlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		code int
		out  []string // lines stdout must hold
		err  string   // stderr must hold
	}{
		{name: "pbs job runs on the allocation", vars: map[string]string{"PBS_NODEFILE": nodefile, "PBS_JOBID": "42.srv"},
			args: []string{"run", "--display-allocation", "-x", "MPXTEST_MARK", rankProg},
			out:  []string{"  from: PBS (PBS_NODEFILE=" + nodefile + ")", "  job: 42.srv", "    localhost: slots=2", "  total: 1 nodes, 2 slots", "wired up"}},
		{name: "pbs slots bound the job", vars: map[string]string{"PBS_NODEFILE": nodefile},
			args: []string{"run", "--display-allocation", "-n", "3", rankProg}, code: 2,
			out: []string{"    localhost: slots=2"}, err: "not enough slots"},
		{name: "host on the command line wins", vars: map[string]string{"PBS_NODEFILE": nodefile},
			args: []string{"run", "--display-allocation", "-H", "localhost:3", "-n", "3", "-x", "MPXTEST_MARK", rankProg},
			out:  []string{"  from: command line (--host localhost:3)", "    localhost: slots=3", "wired up"}},
		{name: "lsf", vars: map[string]string{"LSB_JOBID": "7", "LSB_MCPU_HOSTS": "localhost 1"},
			args: []string{"run", "--display-allocation", "-x", "MPXTEST_MARK", rankProg},
			out:  []string{"  from: LSF (LSB_MCPU_HOSTS=localhost 1)", "wired up"}},
		{name: "no allocation", args: []string{"run", "--display-allocation", "-n", "1", "-x", "MPXTEST_MARK", rankProg},
			out: []string{"  from: this node (no --host, --hostfile or batch allocation found)", "wired up"}},
		{name: "bad allocation", vars: map[string]string{"PBS_NODEFILE": filepath.Join(dir, "missing")},
			args: []string{"run", "-n", "1", rankProg}, code: 2, err: "mpx: run: PBS_NODEFILE=" + filepath.Join(dir, "missing") + ": open "},
		{name: "zero slots", vars: map[string]string{"CCP_NODES": "1 localhost 0"},
			args: []string{"run", "-n", "1", rankProg}, code: 2, err: `mpx: run: CCP_NODES: host "localhost": slot count "0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inAllocation(t, tc.vars)
			code, stdout, stderr := runMpx(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, l := range tc.out {
				if !strings.Contains(stdout, l) {
					t.Errorf("stdout lacks %q:\n%s", l, stdout)
				}
			}
			if !strings.Contains(stderr, tc.err) {
				t.Errorf("stderr %q, want %q in it", stderr, tc.err)
			}
		})
	}
}
