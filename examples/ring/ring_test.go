package main

import (
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

func TestRing(t *testing.T) {
	for _, n := range []int{1, 2, 4, 7} {
		err := commtest.Run(n, func(c *comm.Comm) error {
			got, err := ring(c, 5)
			if err != nil {
				return err
			}
			if c.Rank() == 0 && got != expected(n, 5) {
				t.Errorf("%d ranks: token %d, want %d", n, got, expected(n, 5))
			}
			return nil
		})
		if err != nil {
			t.Fatal(n, err)
		}
	}
	if expected(4, 10) != 60 {
		t.Fatalf("expected(4, 10) = %d, want 60", expected(4, 10))
	}
}
