package comm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// TestBlockedInCollectiveReport: when a rank never joins a collective, the
// deadline report names the collective, its algorithm and round, and the
// peer as a rank of the communicator, not the raw internal tag. Rank 2
// waits for a message that never comes instead of joining, so ranks 0 and
// 1 stop in the ring allreduce: rank 0 in its first round, waiting for
// rank 2; rank 1 in its second, waiting for rank 0, stuck in the first.
// On a split of the odd world ranks, the peer is named in both numberings.
func TestBlockedInCollectiveReport(t *testing.T) {
	defer param.Unset("coll_allreduce_algorithm")
	if err := param.Set("coll_allreduce_algorithm", "ring"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ranks int
		fn    func(c *comm.Comm) error
		want  []string
	}{
		{"world", 3, func(c *comm.Comm) error {
			if c.Rank() == 2 {
				_, err := comm.Recv(c, make([]int, 1), 0, 5)
				return err
			}
			return comm.Allreduce(c, []float64{1, 2, 3}, make([]float64, 3), comm.Sum)
		}, []string{
			"rank 0: blocked in allreduce (ring, round 1 of 4) recv from rank 2 on comm world, for ",
			"rank 1: blocked in allreduce (ring, round 2 of 4) recv from rank 0 on comm world, for ",
			"rank 2: blocked in recv from rank 0, tag 5, on world, for ",
		}},
		{"split", 6, func(c *comm.Comm) error {
			odd, err := c.Split(c.Rank()%2, c.Rank())
			if err != nil {
				return err
			}
			odd.SetName("odd")
			if c.Rank()%2 == 0 || c.Rank() == 5 {
				_, err := comm.Recv(c, make([]int, 1), 0, 5)
				return err
			}
			return comm.Reduce(odd, []float64{1}, make([]float64, 1), comm.Sum, 0)
		}, []string{
			"rank 1: blocked in reduce (binomial, round 2 of 2) recv from rank 2 (world rank 5) on comm odd, for ",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := commtest.RunWith(tc.ranks, commtest.Options{Timeout: 3 * time.Second}, func(c *comm.Comm) error {
				c.SetErrorHandler(comm.ErrorsReturn)
				return tc.fn(c)
			})
			if err == nil {
				t.Fatal("a rank that never joins the collective, yet the run ended")
			}
			report := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(report, w) {
					t.Errorf("report lacks %q:\n%s", w, report)
				}
			}
			for _, line := range strings.Split(report, "\n") {
				if strings.Contains(line, "(") && strings.Contains(line, ", tag ") {
					t.Errorf("a collective shown with its raw tag: %s", line)
				}
			}
		})
	}
}
