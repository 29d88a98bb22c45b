package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Allocation is the set of nodes a batch scheduler gave the job, and where
// that was read from, for `mpx run --display-allocation`.
type Allocation struct {
	// Scheduler names the system: "Slurm", "Flux", "LSF", "Grid Engine",
	// "PBS", "HPC Pack", "Azure Batch", "MPI Operator".
	Scheduler string
	// Source is the variable or file the hosts were read from, with its
	// value ("PE_HOSTFILE=/var/spool/sge/…").
	Source string
	// JobID is the scheduler's job id when it gives one; empty otherwise.
	JobID string
	Hosts []Host
	// Via is how agents reach the nodes: "srun" inside Slurm, "ssh" for
	// the others.
	Via string
	// Notes are facts a user may need when the allocation surprises them
	// (where slot counts came from, a shared directory).
	Notes []string
}

// AllocError locates a problem in what a scheduler handed the job: Source
// is the variable or file, Line its 1-based line (0 when not on one line).
type AllocError struct {
	Source string
	Line   int
	Err    error
}

func (e *AllocError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("%s line %d: %v", e.Source, e.Line, e.Err)
}

func (e *AllocError) Unwrap() error { return e.Err }

// DefaultOperatorHostfile is where the Kubeflow MPI Operator mounts the
// hostfile of an MPIJob in its launcher pod.
const DefaultOperatorHostfile = "/etc/mpi/hostfile"

// AllocEnv is what detection may look at; the zero value of a field means
// the real thing (os.Getenv, os.ReadFile, exec, DefaultOperatorHostfile),
// so that tests can replace each.
type AllocEnv struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Output runs a command and returns its standard output (used for
	// `flux job info ID R`).
	Output func(name string, args ...string) ([]byte, error)
	// OperatorHostfile is the MPI Operator's hostfile path when no
	// variable names one.
	OperatorHostfile string
	// NumCPU is the core count of this node, the slot count of schedulers
	// that give none (Azure Batch); zero means one slot per node.
	NumCPU int
}

func (e AllocEnv) withDefaults() AllocEnv {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.ReadFile == nil {
		e.ReadFile = os.ReadFile
	}
	if e.Output == nil {
		e.Output = func(name string, args ...string) ([]byte, error) {
			return exec.Command(name, args...).Output()
		}
	}
	if e.OperatorHostfile == "" {
		e.OperatorHostfile = DefaultOperatorHostfile
	}
	return e
}

// allocReader is one scheduler's detection: found is false when the job
// does not run under it.
type allocReader func(AllocEnv) (a *Allocation, found bool, err error)

// allocReaders are tried in order, first match wins. The order follows
// MPICH Hydra's resource-manager detection (Slurm, LSF, Grid Engine, PBS),
// which checks the variables only each scheduler sets; Flux, which also sets
// its own, comes after Slurm. Then the systems known by plainer signs: HPC
// Pack's CCP_NODES, Azure Batch's lists, and last the MPI Operator's
// hostfile, which is only a file on disk.
var allocReaders = []allocReader{
	slurmAlloc, fluxAlloc, lsfAlloc, gridEngineAlloc, pbsAlloc, hpcPackAlloc, azureBatchAlloc, operatorAlloc,
}

// DetectAllocation finds the batch allocation the launcher runs in; it
// returns nil and no error outside any. A hostfile or --host given on the
// command line takes precedence: callers try those first.
func DetectAllocation(env AllocEnv) (*Allocation, error) {
	env = env.withDefaults()
	for _, r := range allocReaders {
		a, found, err := r(env)
		if err != nil {
			return nil, err
		}
		if found {
			if len(a.Hosts) == 0 {
				return nil, &AllocError{Source: a.Source, Err: errors.New("no hosts listed")}
			}
			if a.Via == "" {
				a.Via = "ssh"
			}
			return a, nil
		}
	}
	return nil, nil
}

func slurmAlloc(env AllocEnv) (*Allocation, bool, error) {
	hosts, ok, err := SlurmHosts(env.Getenv)
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, &AllocError{Source: "Slurm allocation", Err: err}
	}
	list := env.Getenv(EnvSlurmNodeList)
	src := EnvSlurmNodeList
	if list == "" {
		list, src = env.Getenv("SLURM_NODELIST"), "SLURM_NODELIST"
	}
	return &Allocation{Scheduler: "Slurm", Source: src + "=" + list, JobID: env.Getenv(EnvSlurmJobID),
		Hosts: hosts, Via: "srun"}, true, nil
}

// String describes the allocation in the layout of Open MPI's
// --display-allocation: a header, then one line per node.
func (a *Allocation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "======================   ALLOCATED NODES   ======================\n")
	fmt.Fprintf(&b, "  from: %s (%s)\n", a.Scheduler, a.Source)
	if a.JobID != "" {
		fmt.Fprintf(&b, "  job: %s\n", a.JobID)
	}
	if a.Via != "" {
		fmt.Fprintf(&b, "  agents start with: %s\n", a.Via)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, h := range a.Hosts {
		fmt.Fprintf(&b, "    %s: slots=%d", h.Name, h.Slots)
		if h.MaxSlots != 0 {
			fmt.Fprintf(&b, " max_slots=%d", h.MaxSlots)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "  total: %d nodes, %d slots\n", len(a.Hosts), TotalSlots(a.Hosts))
	b.WriteString("=================================================================\n")
	return b.String()
}
