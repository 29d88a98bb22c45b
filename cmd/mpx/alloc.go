package main

import (
	"fmt"
	goruntime "runtime"
	"strings"

	"github.com/mpx-hpc/mpx/launcher"
	"github.com/urfave/cli/v2"
)

func init() {
	runExtraFlags = append(runExtraFlags, &cli.BoolFlag{Name: "display-allocation",
		Usage: "print the hosts and slots the job may use and where they came from (--host, --hostfile or the scheduler's allocation)"})
}

// allocEnv is what allocation detection reads; tests replace it.
var allocEnv = launcher.AllocEnv{}

// runHosts decides the hosts of `mpx run`: --host or --hostfile when given
// (they win over any allocation, as in Open MPI), else the allocation of the
// batch system the launcher runs in. via is how agents reach the hosts. No
// hosts and no error means a plain single-node start.
func runHosts(c *cli.Context) (hosts []launcher.Host, via string, err error) {
	var a *launcher.Allocation
	if hs := c.StringSlice("host"); len(hs) > 0 {
		h, err := launcher.ParseHosts(strings.Join(hs, ","))
		if err != nil {
			return nil, "", usagef("run: %v", err)
		}
		a = &launcher.Allocation{Scheduler: "command line", Source: "--host " + strings.Join(hs, ","), Hosts: h, Via: "ssh"}
	}
	if f := c.String("hostfile"); f != "" {
		if a != nil {
			return nil, "", usagef("run: give --host or --hostfile, not both")
		}
		h, err := launcher.ReadHostfile(f)
		if err != nil {
			return nil, "", usagef("run: %v", err)
		}
		a = &launcher.Allocation{Scheduler: "command line", Source: "--hostfile " + f, Hosts: h, Via: "ssh"}
	}
	if a == nil {
		env := allocEnv
		if env.NumCPU == 0 {
			env.NumCPU = goruntime.NumCPU()
		}
		if a, err = launcher.DetectAllocation(env); err != nil {
			return nil, "", usagef("run: %v", err)
		}
	}
	if c.Bool("display-allocation") {
		shown := a
		if shown == nil {
			shown = &launcher.Allocation{Scheduler: "this node", Source: "no --host, --hostfile or batch allocation found",
				Hosts: []launcher.Host{{Name: "localhost", Slots: goruntime.NumCPU()}}, Via: "local"}
		}
		fmt.Fprint(c.App.Writer, shown.String())
	}
	if a == nil {
		return nil, "ssh", nil
	}
	return a.Hosts, a.Via, nil
}
