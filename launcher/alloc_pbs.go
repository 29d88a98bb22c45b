package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// EnvPBSNodefile names the file in which PBS, OpenPBS and Torque list a
// job's hosts, one line per slot.
const EnvPBSNodefile = "PBS_NODEFILE"

func pbsAlloc(env AllocEnv) (*Allocation, bool, error) {
	path := env.Getenv(EnvPBSNodefile)
	if path == "" {
		return nil, false, nil
	}
	src := EnvPBSNodefile + "=" + path
	b, err := env.ReadFile(path)
	if err != nil {
		return nil, true, &AllocError{Source: src, Err: err}
	}
	hosts, err := parsePBSNodefile(src, b)
	if err != nil {
		return nil, true, err
	}
	return &Allocation{Scheduler: "PBS", Source: src, JobID: env.Getenv("PBS_JOBID"), Hosts: hosts}, true, nil
}

// parsePBSNodefile counts each host's lines: a host listed four times has
// four slots. Blank lines are skipped.
func parsePBSNodefile(src string, b []byte) ([]Host, error) {
	var hl hostList
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if strings.ContainsAny(text, " \t") {
			return nil, &AllocError{Source: src, Line: line, Err: fmt.Errorf("%q: want one host name per line", text)}
		}
		if err := checkHostName(text); err != nil {
			return nil, &AllocError{Source: src, Line: line, Err: err}
		}
		hl.add(Host{Name: text, Slots: 1}, false)
	}
	if err := sc.Err(); err != nil {
		return nil, &AllocError{Source: src, Line: line + 1, Err: err}
	}
	if len(hl.hosts) == 0 {
		return nil, &AllocError{Source: src, Err: errors.New("no hosts listed")}
	}
	return hl.hosts, nil
}
