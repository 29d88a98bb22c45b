package launcher

import (
	"fmt"
	"strings"
)

// LSF gives a job's hosts in LSB_MCPU_HOSTS as name/count pairs
// ("hostA 4 hostB 2"); LSB_JOBID says a job runs under it.
const (
	EnvLSFJobID = "LSB_JOBID"
	EnvLSFHosts = "LSB_MCPU_HOSTS"
)

func lsfAlloc(env AllocEnv) (*Allocation, bool, error) {
	id := env.Getenv(EnvLSFJobID)
	if id == "" {
		return nil, false, nil
	}
	v := env.Getenv(EnvLSFHosts)
	if strings.TrimSpace(v) == "" {
		return nil, true, &AllocError{Source: EnvLSFHosts, Err: fmt.Errorf("%s=%s is set but %s is empty: cannot tell the job's hosts", EnvLSFJobID, id, EnvLSFHosts)}
	}
	hosts, err := parseNameCountPairs(strings.Fields(v))
	if err != nil {
		return nil, true, &AllocError{Source: EnvLSFHosts, Err: err}
	}
	return &Allocation{Scheduler: "LSF", Source: EnvLSFHosts + "=" + v, JobID: id, Hosts: hosts}, true, nil
}

// parseNameCountPairs reads "name count name count ..." (LSF's and HPC
// Pack's form); a name given twice gets the sum of its counts.
func parseNameCountPairs(f []string) ([]Host, error) {
	if len(f)%2 != 0 {
		return nil, fmt.Errorf("%d words: want host and slot count pairs, the last host %q has no count", len(f), f[len(f)-1])
	}
	var hl hostList
	for i := 0; i < len(f); i += 2 {
		if err := checkHostName(f[i]); err != nil {
			return nil, err
		}
		n, err := parseCount(f[i+1], 1)
		if err != nil {
			return nil, fmt.Errorf("host %q: slot count %v", f[i], err)
		}
		hl.add(Host{Name: f[i], Slots: n}, false)
	}
	return hl.hosts, nil
}
