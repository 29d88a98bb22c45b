// Command mg is the NAS Parallel Benchmarks MG kernel: V-cycle multigrid
// on a periodic 3-D grid for a Poisson problem whose right-hand side is
// ten +1 and ten −1 charges, split over a 3-D process grid, checked
// against NPB's official L2 norm of the final residual.
//
//	mpx run -n 2 ./examples/npb/mg -class A
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
)

func parseFlags(args []string, stderr io.Writer) (npb.MGParams, error) {
	fs := flag.NewFlagSet("mg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	class := fs.String("class", "S", "NPB problem class: S, W, A or B")
	if err := fs.Parse(args); err != nil {
		return npb.MGParams{}, err
	}
	if fs.NArg() > 0 {
		return npb.MGParams{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return npb.MG(*class)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run returns the exit status: 0 verified, 1 verification failed, 2 bad
// usage or a communication error.
func run(args []string, stdout, stderr io.Writer) int {
	p, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mg:", err)
		return 2
	}
	world, err := comm.Init()
	if err != nil {
		fmt.Fprintln(stderr, "mg:", err)
		return 2
	}
	if _, err := procDims(world.Size(), p.N); err != nil {
		// Every rank sees the same count; rank 0 says why they all stop,
		// and the barrier keeps the others from exiting (and the launcher
		// from stopping rank 0) before it has.
		if world.Rank() == 0 {
			fmt.Fprintln(stderr, "mg:", err)
		}
		comm.Barrier(world)
		world.Finalize()
		return 2
	}
	var log io.Writer
	if world.Rank() == 0 {
		log = stdout
		fmt.Fprintf(stdout, "\n\n NAS Parallel Benchmarks (mpx Go, after NPB 3.3) - MG Benchmark\n\n")
		fmt.Fprintf(stdout, " Size: %4dx%4dx%4d  (class %s)\n Iterations: %3d\n Number of processes: %5d\n\n",
			p.N, p.N, p.N, p.Class, p.Nit, world.Size())
	}
	rep, err := Run(world, p, log)
	if err != nil {
		if world.Rank() == 0 {
			fmt.Fprintln(stderr, "mg:", err)
		}
		world.Finalize()
		return 2
	}
	if world.Rank() == 0 {
		rep.Write(stdout)
	}
	if err := world.Finalize(); err != nil {
		fmt.Fprintln(stderr, "mg:", err)
		return 2
	}
	if !rep.Verified() {
		return 1
	}
	return 0
}
