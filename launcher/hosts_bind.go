package launcher

import (
	"fmt"
	"sort"
	"strings"
)

// Core is one physical core a node's ranks may be bound to, with its
// hardware threads (logical CPU numbers).
type Core struct {
	Package int   // socket
	ID      int   // core id within the package, as the kernel numbers it
	CPUs    []int // logical CPUs, ascending
}

// Binding policies of --bind-to.
const (
	BindDefault = ""     // core unless the node is oversubscribed
	BindCore    = "core" // each rank on one core (all of its hardware threads)
	BindNone    = "none" // ranks float over every CPU the agent may use
)

// ParseBindTo checks a --bind-to value.
func ParseBindTo(s string) (string, error) {
	switch p := strings.ToLower(strings.TrimSpace(s)); p {
	case BindDefault, BindCore, BindNone:
		return p, nil
	}
	return "", fmt.Errorf("--bind-to %q: want core or none", s)
}

// PlanBindings gives the CPUs each of a node's localSize ranks is bound to,
// or nil when they stay unbound. As in Open MPI, ranks are bound to a core
// each by default, but not when the node is oversubscribed (or has fewer
// cores than ranks), since pinning two busy ranks to one core halves both;
// an explicit --bind-to core with too few cores is an error.
func PlanBindings(policy, node string, localSize int, oversubscribed bool, cores []Core) ([][]int, error) {
	switch policy {
	case BindNone:
		return nil, nil
	case BindDefault:
		if oversubscribed || localSize > len(cores) {
			return nil, nil
		}
	case BindCore:
		if localSize > len(cores) {
			return nil, fmt.Errorf("--bind-to core: %d ranks on %s but only %d cores available to bind to; use --bind-to none or fewer ranks per node", localSize, node, len(cores))
		}
	default:
		return nil, fmt.Errorf("--bind-to %q: want core or none", policy)
	}
	out := make([][]int, localSize)
	for i := range out {
		out[i] = append([]int(nil), cores[i].CPUs...)
	}
	return out, nil
}

// groupCores builds the core list from each allowed CPU's package and core
// id, in package, core order; lookup reports ok=false when the topology of a
// CPU is unknown, which makes the CPU its own core.
func groupCores(cpus []int, lookup func(cpu int) (pkg, core int, ok bool)) []Core {
	type key struct{ pkg, core int }
	byKey := map[key]*Core{}
	var keys []key
	for _, cpu := range cpus {
		pkg, core, ok := lookup(cpu)
		if !ok {
			pkg, core = 0, -1-cpu // a unique id that no real core has
		}
		k := key{pkg, core}
		c, seen := byKey[k]
		if !seen {
			c = &Core{Package: pkg, ID: core}
			byKey[k] = c
			keys = append(keys, k)
		}
		c.CPUs = append(c.CPUs, cpu)
	}
	out := make([]Core, 0, len(keys))
	for _, k := range keys {
		c := byKey[k]
		sort.Ints(c.CPUs)
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].CPUs[0] < out[j].CPUs[0]
	})
	return out
}

// FormatBinding is the --report-bindings line for one rank, in Open MPI's
// form: "[node:pid] MCW rank 3 bound to core 1[hwt 0-1]: [../BB]", where each
// bracket is a package, '/' separates cores and B marks a bound hardware
// thread.
func FormatBinding(node string, pid, rank int, cores []Core, bound []int) string {
	prefix := fmt.Sprintf("[%s:%d] MCW rank %d", node, pid, rank)
	if len(bound) == 0 {
		return prefix + " is not bound (or bound to all available processors)"
	}
	in := map[int]bool{}
	for _, c := range bound {
		in[c] = true
	}
	var what []string
	var mask strings.Builder
	for i, c := range cores {
		if i == 0 || cores[i-1].Package != c.Package {
			if i > 0 {
				mask.WriteString("]")
			}
			mask.WriteString("[")
		} else {
			mask.WriteString("/")
		}
		var hw []int
		for t, cpu := range c.CPUs {
			if in[cpu] {
				mask.WriteByte('B')
				hw = append(hw, t)
			} else {
				mask.WriteByte('.')
			}
		}
		if len(hw) > 0 {
			what = append(what, fmt.Sprintf("socket %d[core %d[hwt %s]]", c.Package, i, intRanges(hw)))
		}
	}
	if len(cores) > 0 {
		mask.WriteString("]")
	}
	return fmt.Sprintf("%s bound to %s: %s", prefix, strings.Join(what, ", "), mask.String())
}

// intRanges writes ascending ints compactly: 0-1,4.
func intRanges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(xs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
