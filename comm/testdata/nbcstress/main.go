// Command nbcstress runs the stress workload of package stress between
// real processes: non-blocking collectives and point-to-point operations
// outstanding at once on several communicators, completed in random
// orders, checked against a serial oracle. comm's launch tests run it
// through `mpx run` over each transport; rank 0 prints one summary line
// with the seed, so that a failure can be run again.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/testdata/nbcstress/stress"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the operations and their inputs")
	iters := flag.Int("iters", 50, "iterations")
	maxOps := flag.Int("ops", 8, "most operations outstanding at once (2 to 16)")
	reported := flag.Bool("reported", false, "run only the sequence of issue 12, completed by Test in turn and by Wait in reverse order")
	flag.Parse()
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbcstress:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	n, err := stress.Run(w, stress.Config{Seed: *seed, Iters: *iters, MaxOps: *maxOps, Reported: *reported})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nbcstress rank %d (seed %d): %v\n", w.Rank(), *seed, err)
		os.Exit(1)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "nbcstress:", err)
		os.Exit(1)
	}
	if w.Rank() == 0 {
		fmt.Printf("nbcstress: %d ranks, seed %d, %d results checked: ok\n", w.Size(), *seed, n)
	}
}
