package main

import (
	"math"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

func TestPi(t *testing.T) {
	const n = 100000
	// The midpoint rule's error for this integrand is about 1/(12 n²)·|f'(1)-f'(0)| = 1/(6 n²).
	for _, size := range []int{1, 2, 3, 4} {
		err := commtest.Run(size, func(c *comm.Comm) error {
			pi, err := integrate(c, n)
			if err != nil {
				return err
			}
			if c.Rank() == 0 {
				if e := math.Abs(pi - math.Pi); e > 2.0/(6*n*n) {
					t.Errorf("%d ranks: pi = %.16f, error %.3g above the midpoint rule's bound", size, pi, e)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
