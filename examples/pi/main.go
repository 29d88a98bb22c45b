// Command pi integrates 4/(1+x²) over [0,1] with the midpoint rule, each
// rank taking every size-th interval, and combines the partial sums.
//
//	mpx run -n 4 ./examples/pi -n 10000000
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	intervals := flag.Int("n", 10_000_000, "number of intervals")
	flag.Parse()
	if *intervals < 1 {
		fmt.Fprintf(os.Stderr, "pi: -n %d: want at least 1 interval\n", *intervals)
		os.Exit(2)
	}
	world, err := comm.Init()
	if err != nil {
		log.Fatal(err)
	}
	pi, err := integrate(world, *intervals)
	if err != nil {
		log.Fatal(err)
	}
	if world.Rank() == 0 {
		fmt.Printf("pi ≈ %.15f with %d intervals on %d ranks, error %.3g\n", pi, *intervals, world.Size(), math.Abs(pi-math.Pi))
	}
	if err := world.Finalize(); err != nil {
		log.Fatal(err)
	}
}

// partial is this rank's share of the midpoint sum.
func partial(rank, size, n int) float64 {
	h := 1 / float64(n)
	sum := 0.0
	for i := rank; i < n; i += size {
		x := h * (float64(i) + 0.5)
		sum += 4 / (1 + x*x)
	}
	return sum * h
}

// integrate returns the integral on rank 0 (and this rank's part elsewhere).
// Reduce combines the partial sums; for a fixed rank count its result's
// bits do not depend on message arrival order (coll_reproducible=true
// makes them the rank-order sum whatever the algorithm).
func integrate(c *comm.Comm, n int) (float64, error) {
	part := []float64{partial(c.Rank(), c.Size(), n)}
	total := make([]float64, 1)
	if err := comm.Reduce(c, part, total, comm.Sum, 0); err != nil {
		return 0, err
	}
	if c.Rank() != 0 {
		return part[0], nil
	}
	return total[0], nil
}
