package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// A Flux job's resources are its R, a JSON resource set (Flux RFC 20):
// execution.R_lite lists broker ranks with the cores of each, and
// execution.nodelist names the hosts of those ranks in rank order. mpx reads
// FLUX_R when set, else asks `flux job info $FLUX_JOB_ID R`.
const (
	EnvFluxJobID = "FLUX_JOB_ID"
	EnvFluxR     = "FLUX_R"
)

func fluxAlloc(env AllocEnv) (*Allocation, bool, error) {
	id := env.Getenv(EnvFluxJobID)
	r := env.Getenv(EnvFluxR)
	if id == "" && r == "" {
		return nil, false, nil
	}
	src := EnvFluxR
	if r == "" {
		src = "flux job info " + id + " R"
		out, err := env.Output("flux", "job", "info", id, "R")
		if err != nil {
			return nil, true, &AllocError{Source: src, Err: err}
		}
		r = string(out)
	}
	hosts, err := ParseFluxR([]byte(r))
	if err != nil {
		return nil, true, &AllocError{Source: src, Err: err}
	}
	return &Allocation{Scheduler: "Flux", Source: src, JobID: id, Hosts: hosts}, true, nil
}

type fluxR struct {
	Version   int `json:"version"`
	Execution struct {
		RLite []struct {
			Rank     string            `json:"rank"`
			Children map[string]string `json:"children"`
		} `json:"R_lite"`
		Nodelist []string `json:"nodelist"`
	} `json:"execution"`
}

// ParseFluxR reads a version 1 R: each node gets one slot per core.
func ParseFluxR(b []byte) ([]Host, error) {
	var r fluxR
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("version %d: want version 1", r.Version)
	}
	if len(r.Execution.RLite) == 0 {
		return nil, errors.New("no execution.R_lite entries")
	}
	cores := map[int]int{} // broker rank -> cores
	for i, e := range r.Execution.RLite {
		ranks, err := parseIDSet(e.Rank, maxNodes-len(cores))
		if err != nil {
			return nil, fmt.Errorf("execution.R_lite[%d].rank: %v", i, err)
		}
		coreSet, ok := e.Children["core"]
		if !ok || coreSet == "" {
			return nil, fmt.Errorf("execution.R_lite[%d] (rank %s) has no cores: zero slots", i, e.Rank)
		}
		cs, err := parseIDSet(coreSet, maxSlotCount)
		if err != nil {
			return nil, fmt.Errorf("execution.R_lite[%d].children.core: %v", i, err)
		}
		for _, rk := range ranks {
			if _, dup := cores[rk]; dup {
				return nil, fmt.Errorf("execution.R_lite[%d]: rank %d listed twice", i, rk)
			}
			cores[rk] = len(cs)
		}
	}
	if len(r.Execution.Nodelist) == 0 {
		return nil, errors.New("no execution.nodelist: cannot name the nodes")
	}
	var names []string
	for _, hl := range r.Execution.Nodelist {
		n, err := ExpandNodeList(hl)
		if err != nil {
			return nil, fmt.Errorf("execution.nodelist: %v", err)
		}
		if len(names)+len(n) > maxNodes {
			return nil, fmt.Errorf("execution.nodelist names more than %d nodes", maxNodes)
		}
		names = append(names, n...)
	}
	ranks := make([]int, 0, len(cores))
	for rk := range cores {
		ranks = append(ranks, rk)
	}
	sort.Ints(ranks)
	if len(names) != len(ranks) {
		return nil, fmt.Errorf("execution.nodelist names %d hosts but execution.R_lite has %d ranks", len(names), len(ranks))
	}
	var hl hostList
	for i, rk := range ranks {
		hl.add(Host{Name: names[i], Slots: cores[rk]}, false)
	}
	return hl.hosts, nil
}

// parseIDSet expands a Flux idset ("0-3,5", optionally in brackets) into
// its ids in order, at most limit of them.
func parseIDSet(s string, limit int) ([]int, error) {
	in := strings.TrimSpace(s)
	if strings.HasPrefix(in, "[") && strings.HasSuffix(in, "]") {
		in = in[1 : len(in)-1]
	}
	if in == "" {
		return nil, fmt.Errorf("idset %q is empty", s)
	}
	var out []int
	last := -1
	for _, part := range strings.Split(in, ",") {
		loS, hiS, isRange := strings.Cut(part, "-")
		if !isRange {
			hiS = loS
		}
		lo, err1 := strconv.Atoi(loS)
		hi, err2 := strconv.Atoi(hiS)
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return nil, fmt.Errorf("idset %q: %q is not N or N-M", s, part)
		}
		if lo <= last {
			return nil, fmt.Errorf("idset %q: ids out of order at %q", s, part)
		}
		if hi-lo >= limit-len(out) {
			return nil, fmt.Errorf("idset %q holds more than %d ids", s, limit)
		}
		for id := lo; id <= hi; id++ {
			out = append(out, id)
		}
		last = hi
	}
	return out, nil
}
