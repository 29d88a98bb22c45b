// Command wincheck runs comm.Window's semantic checks between real
// processes; comm's launch tests run it through `mpx run` over each
// transport and one-sided backend. Rank 0 prints one summary, with the
// backend its windows use to reach the last rank.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/internal/wincheck"
	"github.com/mpx-hpc/mpx/param"
)

func main() {
	large := flag.String("large", "64m", "size of the large transfer")
	flag.Parse()
	size, err := param.ParseSize(*large)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wincheck: -large:", err)
		os.Exit(2)
	}
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wincheck:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	backend, err := run(w, size)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wincheck rank %d: %v\n", w.Rank(), err)
		os.Exit(1)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "wincheck:", err)
		os.Exit(1)
	}
	if w.Rank() == 0 {
		fmt.Printf("wincheck: %d ranks, %d checks over %s: ok\n", w.Size(), len(wincheck.Checks(size)), backend)
	}
}

func run(c *comm.Comm, large int) (string, error) {
	win, err := comm.AllocWindow[int64](c, 1)
	if err != nil {
		return "", err
	}
	backend := win.Backend(c.Size() - 1)
	if err := win.Free(); err != nil {
		return "", err
	}
	for _, chk := range wincheck.Checks(large) {
		if err := chk.Fn(c); err != nil {
			return "", fmt.Errorf("%s: %w", chk.Name, err)
		}
	}
	return backend, nil
}
