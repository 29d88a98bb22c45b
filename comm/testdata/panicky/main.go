// Command panicky panics on rank 1 under a deferred Finalize while the
// other ranks wait for it in a barrier: the job must end with the panic's
// stack shown, not hang.
package main

import (
	"fmt"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer w.Finalize()
	if w.Rank() == 1 {
		var grid map[string]float64
		grid["cell"]++ // a nil map: the kind of bug that panics in real codes
	}
	if err := comm.Barrier(w); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
