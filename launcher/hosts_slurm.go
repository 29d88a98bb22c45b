package launcher

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxNodes bounds how many names one Slurm list may expand to (the largest
// machines have some 10^5 nodes), so that "n[0-999999999]" is an error and
// not an exhausted memory.
const maxNodes = 1 << 17

// ExpandNodeList expands a Slurm host list such as "node[01-04,07],gpu[1-2]"
// into its names in order: node01 node02 node03 node04 node07 gpu1 gpu2.
// Zero padding is kept (the width of a range is that of its lower bound),
// and a name may hold several bracket groups ("r[1-2]n[1-2]" is r1n1 r1n2
// r2n1 r2n2).
func ExpandNodeList(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("slurm node list is empty")
	}
	items, err := splitTopLevel(list)
	if err != nil {
		return nil, fmt.Errorf("slurm node list %q: %v", list, err)
	}
	var out []string
	for _, item := range items {
		if item == "" {
			return nil, fmt.Errorf("slurm node list %q: empty name between commas", list)
		}
		names, err := expandItem(item, maxNodes-len(out))
		if err != nil {
			return nil, fmt.Errorf("slurm node list %q: %v", list, err)
		}
		out = append(out, names...)
	}
	return out, nil
}

// splitTopLevel splits at the commas outside brackets.
func splitTopLevel(s string) ([]string, error) {
	var items []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			if depth > 0 {
				return nil, fmt.Errorf("nested '[' at offset %d", i)
			}
			depth++
		case ']':
			if depth == 0 {
				return nil, fmt.Errorf("']' without '[' at offset %d", i)
			}
			depth--
		case ',':
			if depth == 0 {
				items = append(items, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, errors.New("unclosed '['")
	}
	return append(items, strings.TrimSpace(s[start:])), nil
}

// expandItem expands one name with zero or more bracket groups, producing at
// most limit names.
func expandItem(item string, limit int) ([]string, error) {
	names := []string{""}
	rest := item
	for rest != "" {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			if err := checkNodeChars(rest); err != nil {
				return nil, err
			}
			for i := range names {
				names[i] += rest
			}
			break
		}
		prefix := rest[:open]
		if err := checkNodeChars(prefix); err != nil {
			return nil, err
		}
		end := strings.IndexByte(rest, ']') // splitTopLevel proved it exists and follows open
		parts, err := expandRanges(rest[open+1:end], limit)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		if len(names)*len(parts) > limit {
			return nil, fmt.Errorf("%q expands to more than %d names", item, maxNodes)
		}
		next := make([]string, 0, len(names)*len(parts))
		for _, n := range names {
			for _, p := range parts {
				next = append(next, n+prefix+p)
			}
		}
		names = next
		rest = rest[end+1:]
	}
	if names[0] == "" {
		return nil, fmt.Errorf("%q: empty host name", item)
	}
	return names, nil
}

func checkNodeChars(s string) error {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("character %q is not allowed in a node name", r)
		}
	}
	return nil
}

// expandRanges expands the inside of one bracket group: "01-04,07".
func expandRanges(inner string, limit int) ([]string, error) {
	if inner == "" {
		return nil, errors.New("empty brackets")
	}
	var out []string
	for _, r := range strings.Split(inner, ",") {
		loS, hiS, isRange := strings.Cut(r, "-")
		if !isRange {
			hiS = loS
		}
		lo, err := rangeBound(loS)
		if err != nil {
			return nil, err
		}
		hi, err := rangeBound(hiS)
		if err != nil {
			return nil, err
		}
		if hi < lo {
			return nil, fmt.Errorf("range %q runs backwards", r)
		}
		if hi-lo >= limit-len(out) {
			return nil, fmt.Errorf("range %q expands to more than %d names", r, maxNodes)
		}
		width := len(loS)
		for n := lo; n <= hi; n++ {
			s := strconv.Itoa(n)
			if len(s) < width {
				s = strings.Repeat("0", width-len(s)) + s
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func rangeBound(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, fmt.Errorf("range bound %q: want 1 to 9 digits", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("range bound %q is not a number", s)
		}
	}
	return strconv.Atoi(s)
}

// ParseTasksPerNode expands Slurm's compressed per-node counts, the format
// of SLURM_TASKS_PER_NODE and SLURM_JOB_CPUS_PER_NODE: "2(x3),1" is 2 2 2 1.
func ParseTasksPerNode(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("tasks-per-node list is empty")
	}
	var out []int
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		count, rep := item, "1"
		if i := strings.IndexByte(item, '('); i >= 0 {
			if !strings.HasPrefix(item[i:], "(x") || !strings.HasSuffix(item, ")") {
				return nil, fmt.Errorf("tasks-per-node %q: item %q: want N or N(xM)", s, item)
			}
			count, rep = item[:i], item[i+2:len(item)-1]
		}
		n, err := parseCount(count, 1)
		if err != nil {
			return nil, fmt.Errorf("tasks-per-node %q: count %v", s, err)
		}
		m, err := parseCount(rep, 1)
		if err != nil {
			return nil, fmt.Errorf("tasks-per-node %q: repeat %v", s, err)
		}
		if len(out)+m > maxNodes {
			return nil, fmt.Errorf("tasks-per-node %q: more than %d nodes", s, maxNodes)
		}
		for range m {
			out = append(out, n)
		}
	}
	return out, nil
}

// The Slurm environment an allocation (salloc, sbatch) gives its shell.
const (
	EnvSlurmJobID        = "SLURM_JOB_ID"
	EnvSlurmNodeList     = "SLURM_JOB_NODELIST"
	EnvSlurmTasksPerNode = "SLURM_TASKS_PER_NODE"
	EnvSlurmCPUsPerNode  = "SLURM_JOB_CPUS_PER_NODE"
)

// SlurmHosts reads the nodes and slots of the Slurm allocation the launcher
// runs in. ok is false outside an allocation (no SLURM_JOB_ID). Slots come
// from SLURM_TASKS_PER_NODE, or from SLURM_JOB_CPUS_PER_NODE when the
// allocation was made without a task count.
func SlurmHosts(getenv func(string) string) (hosts []Host, ok bool, err error) {
	if getenv(EnvSlurmJobID) == "" {
		return nil, false, nil
	}
	listVar := EnvSlurmNodeList
	list := getenv(listVar)
	if list == "" {
		listVar = "SLURM_NODELIST" // older Slurm
		list = getenv(listVar)
	}
	if list == "" {
		return nil, true, fmt.Errorf("%s=%s is set but %s is not: cannot tell the allocation's nodes", EnvSlurmJobID, getenv(EnvSlurmJobID), EnvSlurmNodeList)
	}
	names, err := ExpandNodeList(list)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %v", listVar, err)
	}
	countVar := EnvSlurmTasksPerNode
	counts := getenv(countVar)
	if counts == "" {
		countVar = EnvSlurmCPUsPerNode
		counts = getenv(countVar)
	}
	slots := make([]int, len(names))
	for i := range slots {
		slots[i] = 1
	}
	if counts != "" {
		if slots, err = ParseTasksPerNode(counts); err != nil {
			return nil, true, fmt.Errorf("%s: %v", countVar, err)
		}
		if len(slots) != len(names) {
			return nil, true, fmt.Errorf("%s=%q gives %d counts but %s=%q names %d nodes", countVar, counts, len(slots), listVar, list, len(names))
		}
	}
	var hl hostList
	for i, n := range names {
		hl.add(Host{Name: n, Slots: slots[i]}, false)
	}
	return hl.hosts, true, nil
}
