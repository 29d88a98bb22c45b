package comm_test

import (
	"fmt"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// p2p_eager_limit decides the protocol: a 100-byte Isend completes at once
// when eager, and only once the receive is posted when it must rendezvous.
func TestEagerLimitParam(t *testing.T) {
	for _, tc := range []struct {
		limit     string
		doneEarly bool
	}{
		{"0", true},   // the transport's 64k
		{"16", false}, // 100 bytes > 16: rendezvous
	} {
		t.Run(tc.limit, func(t *testing.T) {
			if err := param.Set("p2p_eager_limit", tc.limit); err != nil {
				t.Fatal(err)
			}
			defer param.Unset("p2p_eager_limit")
			err := commtest.Run(2, func(c *comm.Comm) error {
				if c.Rank() == 0 {
					r, err := comm.Isend(c, make([]byte, 100), 1, 0)
					if err != nil {
						return err
					}
					done, _, err := r.Test()
					if err != nil {
						return err
					}
					if done != tc.doneEarly {
						return fmt.Errorf("limit %s: Isend of 100 bytes done before the receive was posted: %v, want %v", tc.limit, done, tc.doneEarly)
					}
					if err := comm.Send(c, []byte{1}, 1, 1); err != nil { // now post it
						return err
					}
					_, err = r.Wait()
					return err
				}
				if _, err := comm.Recv(c, make([]byte, 1), 0, 1); err != nil {
					return err
				}
				_, err := comm.Recv(c, make([]byte, 100), 0, 0)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
