package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// EnvGridEnginePEHostfile names the file in which Grid Engine lists the
// hosts of a parallel-environment job: "host slots queue processor-range".
const EnvGridEnginePEHostfile = "PE_HOSTFILE"

func gridEngineAlloc(env AllocEnv) (*Allocation, bool, error) {
	path := env.Getenv(EnvGridEnginePEHostfile)
	if path == "" {
		return nil, false, nil
	}
	src := EnvGridEnginePEHostfile + "=" + path
	b, err := env.ReadFile(path)
	if err != nil {
		return nil, true, &AllocError{Source: src, Err: err}
	}
	hosts, err := parsePEHostfile(src, b)
	if err != nil {
		return nil, true, err
	}
	return &Allocation{Scheduler: "Grid Engine", Source: src, JobID: env.Getenv("JOB_ID"), Hosts: hosts}, true, nil
}

// parsePEHostfile reads the host and slots of each line; the queue and the
// processor range (often UNDEFINED) are not used.
func parsePEHostfile(src string, b []byte) ([]Host, error) {
	var hl hostList
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 4 {
			return nil, &AllocError{Source: src, Line: line, Err: fmt.Errorf("%d fields: want host slots queue processor-range", len(f))}
		}
		if err := checkHostName(f[0]); err != nil {
			return nil, &AllocError{Source: src, Line: line, Err: err}
		}
		n, err := parseCount(f[1], 1)
		if err != nil {
			return nil, &AllocError{Source: src, Line: line, Err: fmt.Errorf("host %q: slots %v", f[0], err)}
		}
		hl.add(Host{Name: f[0], Slots: n}, false)
	}
	if err := sc.Err(); err != nil {
		return nil, &AllocError{Source: src, Line: line + 1, Err: err}
	}
	if len(hl.hosts) == 0 {
		return nil, &AllocError{Source: src, Err: errors.New("no hosts listed")}
	}
	return hl.hosts, nil
}
