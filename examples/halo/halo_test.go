package main

import (
	"math"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

func TestHalo(t *testing.T) {
	cfg := config{nx: 24, ny: 12, steps: 20}
	var ref float64
	for _, n := range []int{1, 2, 3, 4, 6} {
		sums := make([]float64, n)
		err := commtest.Run(n, func(c *comm.Comm) error {
			res, err := run(c, cfg)
			sums[c.Rank()] = res.sum
			return err
		})
		if err != nil {
			t.Fatalf("%d ranks: %v", n, err)
		}
		if n == 1 {
			ref = sums[0]
		}
		for r, s := range sums {
			// Same field, summed in a different order: round-off only.
			if math.Abs(s-ref) > 1e-10 {
				t.Errorf("%d ranks, rank %d: sum %.15f, 1 rank gave %.15f", n, r, s, ref)
			}
		}
	}
}

func TestHaloUnevenGrid(t *testing.T) {
	err := commtest.Run(4, func(c *comm.Comm) error {
		_, err := run(c, config{nx: 7, ny: 5, steps: 1})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "does not split evenly") {
		t.Fatalf("want a clear error for a grid that does not split, got %v", err)
	}
}

// The one-sided exchange gives the same bits as the two-sided one, over
// cross-memory attach and over the emulation.
func TestHaloRMA(t *testing.T) {
	for _, backend := range []string{"auto", "emulate"} {
		t.Run(backend, func(t *testing.T) {
			if err := param.Set("rma_backend", backend); err != nil {
				t.Fatal(err)
			}
			defer param.Unset("rma_backend")
			for _, n := range []int{1, 2, 4, 6} {
				var sums [2][]float64
				for m, rma := range []bool{false, true} {
					sums[m] = make([]float64, n)
					err := commtest.Run(n, func(c *comm.Comm) error {
						res, err := run(c, config{nx: 24, ny: 12, steps: 20, rma: rma})
						sums[m][c.Rank()] = res.sum
						return err
					})
					if err != nil {
						t.Fatalf("%d ranks, rma %v: %v", n, rma, err)
					}
				}
				for r := range n {
					if sums[0][r] != sums[1][r] {
						t.Errorf("%d ranks, rank %d: sum %.17g with messages, %.17g with puts", n, r, sums[0][r], sums[1][r])
					}
				}
			}
		})
	}
}
