// Command cg is the NAS Parallel Benchmarks CG kernel: the smallest
// eigenvalue of a random sparse symmetric matrix by inverse power
// iteration, each step a 25-iteration conjugate-gradient solve, on NPB's
// 2-D process grid, checked against NPB's official zeta.
//
//	mpx run -n 2 ./examples/npb/cg -class A
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
)

func parseFlags(args []string, stderr io.Writer) (npb.CGParams, error) {
	fs := flag.NewFlagSet("cg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	class := fs.String("class", "S", "NPB problem class: S, W, A or B")
	if err := fs.Parse(args); err != nil {
		return npb.CGParams{}, err
	}
	if fs.NArg() > 0 {
		return npb.CGParams{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return npb.CG(*class)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run returns the exit status: 0 verified, 1 verification failed, 2 bad
// usage or a communication error.
func run(args []string, stdout, stderr io.Writer) int {
	p, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "cg:", err)
		return 2
	}
	world, err := comm.Init()
	if err != nil {
		fmt.Fprintln(stderr, "cg:", err)
		return 2
	}
	if _, _, err := procGrid(world.Size()); err != nil {
		// Every rank sees the same count; rank 0 says why they all stop,
		// and the barrier keeps the others from exiting (and the launcher
		// from stopping rank 0) before it has.
		if world.Rank() == 0 {
			fmt.Fprintln(stderr, "cg:", err)
		}
		comm.Barrier(world)
		world.Finalize()
		return 2
	}
	var log io.Writer
	if world.Rank() == 0 {
		log = stdout
		fmt.Fprintf(stdout, "\n\n NAS Parallel Benchmarks (mpx Go, after NPB 3.3) - CG Benchmark\n\n")
		fmt.Fprintf(stdout, " Size: %11d\n Iterations: %5d\n Number of active processes: %5d\n\n", p.NA, p.Niter, world.Size())
	}
	rep, err := Run(world, p, log)
	if err != nil {
		if world.Rank() == 0 {
			fmt.Fprintln(stderr, "cg:", err)
		}
		world.Finalize()
		return 2
	}
	if world.Rank() == 0 {
		rep.Write(stdout)
	}
	if err := world.Finalize(); err != nil {
		fmt.Fprintln(stderr, "cg:", err)
		return 2
	}
	if !rep.Verified() {
		return 1
	}
	return 0
}
