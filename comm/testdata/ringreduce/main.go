// Command ringreduce passes a token around every rank, then sums a vector
// over all ranks with Allreduce, for a number of rounds, and checks both
// results against their closed forms on every rank. It is the job that
// showed shared memory scaling worse than TCP with many ranks on one node;
// comm's launch tests and benchmarks run it with many ranks. Rank 0 prints
// one summary line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	rounds := flag.Int("rounds", 3, "token laps, each followed by an Allreduce")
	count := flag.Int("count", 1024, "elements in each Allreduce")
	flag.Parse()
	if *rounds < 1 || *count < 1 {
		fmt.Fprintf(os.Stderr, "ringreduce: -rounds %d -count %d: want both at least 1\n", *rounds, *count)
		os.Exit(2)
	}
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringreduce:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	if err := run(w, *rounds, *count); err != nil {
		fmt.Fprintf(os.Stderr, "ringreduce: rank %d: %v\n", w.Rank(), err)
		w.Abort(1)
	}
	if w.Rank() == 0 {
		fmt.Printf("ringreduce: %d ranks, %d rounds of %d elements: ok\n", w.Size(), *rounds, *count)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "ringreduce:", err)
		os.Exit(1)
	}
}

func run(w *comm.Comm, rounds, count int) error {
	me, n := w.Rank(), w.Size()
	next, prev := (me+1)%n, (me+n-1)%n
	in := make([]int64, count)
	out := make([]int64, count)
	for round := 0; round < rounds; round++ {
		// The token collects rank+1 from every rank, starting at rank 0.
		token := []int64{0}
		if me == 0 {
			token[0] = 1
			if n > 1 {
				if err := comm.Send(w, token, next, round); err != nil {
					return err
				}
				if _, err := comm.Recv(w, token, prev, round); err != nil {
					return err
				}
			}
		} else {
			if _, err := comm.Recv(w, token, prev, round); err != nil {
				return err
			}
			token[0] += int64(me + 1)
			if err := comm.Send(w, token, next, round); err != nil {
				return err
			}
		}
		if want := int64(n) * int64(n+1) / 2; me == 0 && token[0] != want {
			return fmt.Errorf("round %d: token %d after a lap of %d ranks, want %d", round, token[0], n, want)
		}
		for i := range in {
			in[i] = int64((me+1)*(i+1) + round)
		}
		if err := comm.Allreduce(w, in, out, comm.Sum); err != nil {
			return err
		}
		// sum over r of (r+1)(i+1)+round = (i+1) n(n+1)/2 + n round
		for i, v := range out {
			if want := int64(i+1)*int64(n)*int64(n+1)/2 + int64(n)*int64(round); v != want {
				return fmt.Errorf("round %d: Allreduce element %d is %d, want %d", round, i, v, want)
			}
		}
	}
	return nil
}
