//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package comm_test

import (
	"testing"

	"github.com/mpx-hpc/mpx/comm"
)

// Blocking point-to-point on numeric slices must not allocate per message
// in steady state.
func TestSendRecvAllocs(t *testing.T) {
	job, err := comm.Local(2, comm.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	a, b := job.Worlds[0], job.Worlds[1]
	out, in := make([]float64, 64), make([]float64, 64)
	for _, pre := range []bool{false, true} {
		allocs := testing.AllocsPerRun(200, func() {
			if pre {
				// Receive posted first: the payload lands in place.
				r, err := comm.Irecv(b, in, 0, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := comm.Send(a, out, 1, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Wait(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err := comm.Send(a, out, 1, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := comm.Recv(b, in, 0, 1); err != nil {
				t.Fatal(err)
			}
		})
		limit := 0.0
		if pre {
			limit = 1 // the Request that Irecv returns
		}
		if allocs > limit {
			t.Errorf("receive posted first=%v: %.1f allocations per message, want at most %.0f", pre, allocs, limit)
		}
	}
}
