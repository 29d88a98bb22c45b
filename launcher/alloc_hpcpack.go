package launcher

import (
	"errors"
	"fmt"
	"strings"
)

// EnvHPCPackNodes is how Microsoft HPC Pack (and MS-MPI's mpiexec) hands a
// job its nodes: "COUNT host cores host cores ...".
const EnvHPCPackNodes = "CCP_NODES"

func hpcPackAlloc(env AllocEnv) (*Allocation, bool, error) {
	v := env.Getenv(EnvHPCPackNodes)
	if strings.TrimSpace(v) == "" {
		return nil, false, nil
	}
	hosts, err := parseCCPNodes(v)
	if err != nil {
		return nil, true, &AllocError{Source: EnvHPCPackNodes, Err: err}
	}
	return &Allocation{Scheduler: "HPC Pack", Source: EnvHPCPackNodes + "=" + v, JobID: env.Getenv("CCP_JOBID"), Hosts: hosts}, true, nil
}

// parseCCPNodes reads CCP_NODES, checking its leading node count against
// the pairs that follow.
func parseCCPNodes(v string) ([]Host, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil, errors.New("empty: want a node count, then host and core count pairs")
	}
	n, err := parseCount(f[0], 1)
	if err != nil {
		return nil, fmt.Errorf("node count %v (want COUNT host cores host cores ...)", err)
	}
	if len(f)-1 != 2*n {
		return nil, fmt.Errorf("says %d nodes but lists %d words after the count: want %d host/cores pairs", n, len(f)-1, n)
	}
	return parseNameCountPairs(f[1:])
}
