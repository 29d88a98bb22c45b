package main

import (
	"strings"

	"github.com/mpx-hpc/mpx/param"
	"github.com/urfave/cli/v2"
)

// openMPINames are Open MPI MCA parameters users bring along, with what
// says the same to mpx; `--mca NAME VALUE` with one of them gets this hint.
var openMPINames = map[string]string{
	"btl":                             "--param transport=auto|shm|tcp",
	"pml":                             "nothing: mpx has one point-to-point layer",
	"btl_tcp_if_include":              "--iface NAME|CIDR",
	"oob_tcp_if_include":              "--iface NAME|CIDR",
	"btl_tcp_port_min_v4":             "--port-range LO-HI",
	"btl_vader_single_copy_mechanism": "--param shm_single_copy=auto|cma|copy",
	"btl_sm_single_copy_mechanism":    "--param shm_single_copy=auto|cma|copy",
	"rmaps_base_oversubscribe":        "--oversubscribe",
	"rmaps_base_mapping_policy":       "--map-by",
	"hwloc_base_binding_policy":       "--bind-to",
	"plm_rsh_agent":                   "--launch-agent",
	"orte_default_hostfile":           "--hostfile",
	"mpi_yield_when_idle":             "--param wait_mode=block",
}

// expandMCA turns `mpx run --mca NAME VALUE` into `--param NAME=VALUE`, as
// mpirun users write it. Only the flags before the program are looked at:
// what follows the program is the program's own.
func expandMCA(args []string) ([]string, error) {
	if len(args) < 2 || args[1] != "run" || runCmd == nil {
		return args, nil
	}
	out := append([]string(nil), args[:2]...)
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...), nil
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			out = append(out, a)
			continue
		}
		if name == "mca" {
			if i+2 >= len(args) {
				return nil, usagef("run: --mca wants NAME VALUE")
			}
			if err := checkMCAName(args[i+1]); err != nil {
				return nil, err
			}
			out = append(out, "--param", args[i+1]+"="+args[i+2])
			i += 2
			continue
		}
		out = append(out, a)
		if takesValue(runCmd.Flags, name) && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out, nil
}

// checkMCAName accepts mpx's own parameter names and explains Open MPI's.
func checkMCAName(name string) error {
	for _, p := range param.All() {
		if p.Name == name {
			return nil
		}
	}
	hint := openMPINames[name]
	if alg, ok := strings.CutPrefix(name, "coll_tuned_"); ok && strings.HasSuffix(alg, "_algorithm") {
		hint = "--param coll_" + alg + "=NAME (names, not numbers: see mpx info)"
	}
	if hint != "" {
		return usagef("run: --mca %s is Open MPI's; in mpx that is %s", name, hint)
	}
	return usagef("run: --mca %s: no such mpx parameter (--mca takes mpx's names, listed by `mpx info`)", name)
}

// takesValue says whether the flag of that name reads the next argument.
func takesValue(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
