// Command pmi2probe exercises the PMI-2 client under a real process manager
// (srun --mpi=pmi2): every task puts a value of its own, fences, reads every
// other task's, agrees on a shared secret, and prints one line.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/mpx-hpc/mpx/runtime/bootstrap/pmi2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pmi2probe:", err)
		os.Exit(1)
	}
}

func value(r int) []byte {
	return bytes.Repeat([]byte("v"+strconv.Itoa(r)+";"), 700) // chunked, with ';'
}

func run() error {
	if !pmi2.Detect(os.Getenv) {
		return fmt.Errorf("no PMI-2 environment (PMI_FD=%q)", os.Getenv("PMI_FD"))
	}
	c, err := pmi2.Open(os.Getenv)
	if err != nil {
		return err
	}
	r, n := c.Rank(), c.Size()
	if err := c.Put("card/"+strconv.Itoa(r), value(r)); err != nil {
		return err
	}
	if err := c.Fence(); err != nil {
		return err
	}
	for p := range n {
		v, err := c.Get("card/" + strconv.Itoa(p))
		if err != nil {
			return err
		}
		if !bytes.Equal(v, value(p)) {
			return fmt.Errorf("rank %d: value of %d differs", r, p)
		}
	}
	sec, err := c.SharedSecret("mpx/secret")
	if err != nil {
		return err
	}
	env := c.Env()
	if err := c.Finalize(); err != nil {
		return err
	}
	fmt.Printf("rank %d of %d node %d local %d/%d job %s secret %x ok\n", r, n, env.NodeID, env.LocalRank, env.LocalSize, c.JobID(), sec[:4])
	return nil
}
