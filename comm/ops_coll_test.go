package comm_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

func TestOps(t *testing.T) {
	const p = 5
	// Rank r contributes r+1 (and, for the bit ops, 1<<r | 1).
	cases := []struct {
		name string
		run  func(c *comm.Comm) (any, error)
		want any
	}{
		{"sum int", func(c *comm.Comm) (any, error) { return red(c, int64(c.Rank()+1), comm.Sum) }, int64(15)},
		{"prod float32", func(c *comm.Comm) (any, error) { return red(c, float32(c.Rank()+1), comm.Prod) }, float32(120)},
		{"min int8", func(c *comm.Comm) (any, error) { return red(c, int8(3-c.Rank()), comm.Min) }, int8(-1)},
		{"max uint16", func(c *comm.Comm) (any, error) { return red(c, uint16(c.Rank()*7%5), comm.Max) }, uint16(4)},
		{"land", func(c *comm.Comm) (any, error) { return red(c, int32(c.Rank()+1), comm.LAnd) }, int32(1)},
		{"land with a zero", func(c *comm.Comm) (any, error) { return red(c, int32(c.Rank()), comm.LAnd) }, int32(0)},
		{"lor", func(c *comm.Comm) (any, error) { return red(c, float64(c.Rank()/4), comm.LOr) }, float64(1)},
		{"band", func(c *comm.Comm) (any, error) { return red(c, uint8(1<<c.Rank()|1), comm.BAnd) }, uint8(1)},
		{"bor", func(c *comm.Comm) (any, error) { return red(c, uint8(1<<c.Rank()|1), comm.BOr) }, uint8(31)},
		{"bxor", func(c *comm.Comm) (any, error) { return red(c, uint8(1<<c.Rank()|1), comm.BXor) }, uint8(31 ^ 1 ^ 1)}, // five 1-bits xor to 1
		{"sum complex", func(c *comm.Comm) (any, error) { return red(c, complex(float64(c.Rank()), 1), comm.Sum) }, complex(10, 5)},
		{"minloc", func(c *comm.Comm) (any, error) {
			return red(c, comm.ValueIndex[float64]{Value: float64((c.Rank() + 2) % 3), Index: c.Rank()}, comm.MinLoc)
		}, comm.ValueIndex[float64]{Value: 0, Index: 1}}, // ranks 1 and 4 tie; the lower index wins
		{"maxloc", func(c *comm.Comm) (any, error) {
			return red(c, comm.ValueIndex[int]{Value: (c.Rank() + 2) % 3, Index: c.Rank()}, comm.MaxLoc)
		}, comm.ValueIndex[int]{Value: 2, Index: 0}},
		{"user op, non-commutative", func(c *comm.Comm) (any, error) {
			// Concatenating digits: a*10+b keeps rank order visible.
			concat := comm.NewOp(func(a, b int64) int64 {
				m := int64(10)
				for m <= b {
					m *= 10
				}
				return a*m + b
			}, false)
			return red(c, int64(c.Rank()+1), concat)
		}, int64(12345)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := commtest.Run(p, func(c *comm.Comm) error {
				got, err := tc.run(c)
				if err != nil {
					return err
				}
				if got != tc.want {
					return fmt.Errorf("got %v, want %v", got, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// red allreduces one value and also checks Reduce at the last rank agrees.
func red[T comm.Element](c *comm.Comm, x T, op comm.Op) (T, error) {
	out := make([]T, 1)
	if err := comm.Allreduce(c, []T{x}, out, op); err != nil {
		return out[0], err
	}
	at := make([]T, 1)
	if err := comm.Reduce(c, []T{x}, at, op, c.Size()-1); err != nil {
		return out[0], err
	}
	if c.Rank() == c.Size()-1 && at[0] != out[0] {
		return out[0], fmt.Errorf("reduce gave %v, allreduce %v", at[0], out[0])
	}
	return out[0], nil
}

func TestOpErrors(t *testing.T) {
	cases := []struct {
		name string
		run  func(c *comm.Comm) error
		want string
	}{
		{"min on complex", func(c *comm.Comm) error {
			return comm.Allreduce(c, []complex64{1}, make([]complex64, 1), comm.Min)
		}, "min is not defined on complex64"},
		{"bxor on float", func(c *comm.Comm) error {
			return comm.Allreduce(c, []float64{1}, make([]float64, 1), comm.BXor)
		}, "bxor is not defined on float64"},
		{"user op of another type", func(c *comm.Comm) error {
			op := comm.NewOp(func(a, b int32) int32 { return a + b }, true)
			return comm.Allreduce(c, []int64{1}, make([]int64, 1), op)
		}, "applied to int64"},
		{"zero op", func(c *comm.Comm) error {
			return comm.Allreduce(c, []int64{1}, make([]int64, 1), comm.Op{})
		}, "zero Op"},
		{"short receive buffer", func(c *comm.Comm) error {
			return comm.Allreduce(c, []int64{1, 2}, make([]int64, 1), comm.Sum)
		}, "receive buffer of 1 elements for 2"},
		{"root out of range", func(c *comm.Comm) error {
			return comm.Bcast(c, []int{1}, 3)
		}, "root 3 outside"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := commtest.Run(2, func(c *comm.Comm) error {
				c.SetErrorHandler(comm.ErrorsReturn)
				err := tc.run(c)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					return fmt.Errorf("error %v, want one containing %q", err, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMismatchedCounts: ranks passing different counts get ErrMismatch
// naming the lengths, not corrupted memory or a hang.
func TestMismatchedCounts(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		c.SetErrorHandler(comm.ErrorsReturn)
		buf := make([]float64, 4+c.Rank()) // rank 1 expects 5
		err := comm.Bcast(c, buf, 0)
		if c.Rank() == 1 && !errors.Is(err, comm.ErrMismatch) {
			return fmt.Errorf("bcast with counts 4 and 5: error %v, want ErrMismatch", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCollCheck: with coll_check on, a mismatched root is named on every
// rank; without it the same call would hang, so the check is what saves it.
func TestCollCheck(t *testing.T) {
	if err := param.Set("coll_check", "true"); err != nil {
		t.Fatal(err)
	}
	defer param.Unset("coll_check")
	err := commtest.Run(3, func(c *comm.Comm) error {
		c.SetErrorHandler(comm.ErrorsReturn)
		err := comm.Bcast(c, []int{1, 2}, c.Rank()/2) // ranks 0,1 say root 0; rank 2 says 1
		if !errors.Is(err, comm.ErrMismatch) || !strings.Contains(err.Error(), "root ranges from 0 to 1") {
			return fmt.Errorf("bcast with roots 0,0,1: error %v, want a root mismatch", err)
		}
		// Matching calls still work with the check on.
		out := make([]int, 1)
		if err := comm.Allreduce(c, []int{1}, out, comm.Sum); err != nil || out[0] != 3 {
			return fmt.Errorf("checked allreduce: %v, %v", out, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNonBlockingOverlap starts several non-blocking collectives at once
// on one communicator, computes, and checks each: the per-call sequence
// number keeps their messages apart.
func TestNonBlockingOverlap(t *testing.T) {
	for _, p := range []int{1, 2, 3, 7, 8} {
		err := commtest.Run(p, func(c *comm.Comm) error {
			r := c.Rank()
			const n = 100
			sums := make([][]float64, 4)
			var reqs []*comm.Request
			for k := range sums {
				sums[k] = make([]float64, n)
				q, err := comm.Iallreduce(c, vec(r+k, n), sums[k], comm.Sum)
				if err != nil {
					return err
				}
				reqs = append(reqs, q)
			}
			bc := make([]int32, 10)
			if r == 0 {
				bc[9] = 42
			}
			qb, err := comm.Ibcast(c, bc, 0)
			if err != nil {
				return err
			}
			red := make([]float64, n)
			qr, err := comm.Ireduce(c, vec(r, n), red, comm.Sum, p-1)
			if err != nil {
				return err
			}
			ag := make([]int, p)
			qg, err := comm.Iallgather(c, []int{r * r}, ag)
			if err != nil {
				return err
			}
			a2a := make([]int, p)
			send := make([]int, p)
			for d := range send {
				send[d] = r*100 + d
			}
			qa, err := comm.Ialltoall(c, send, a2a)
			if err != nil {
				return err
			}
			qbar, err := comm.Ibarrier(c)
			if err != nil {
				return err
			}
			reqs = append(reqs, qb, qr, qg, qa, qbar)
			if err := comm.Waitall(reqs...); err != nil {
				return err
			}
			for k := range sums {
				want := make([]float64, n)
				for q := 0; q < p; q++ {
					for i, x := range vec(q+k, n) {
						want[i] += x
					}
				}
				if err := same(fmt.Sprint("iallreduce ", k), sums[k], want); err != nil {
					return err
				}
			}
			if bc[9] != 42 {
				return fmt.Errorf("ibcast: got %v", bc)
			}
			if r == p-1 {
				if err := same("ireduce", red, sumOf(0, p, n)); err != nil {
					return err
				}
			}
			for q := 0; q < p; q++ {
				if ag[q] != q*q || a2a[q] != q*100+r {
					return fmt.Errorf("iallgather %v / ialltoall %v", ag, a2a)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("p=%d: %v", p, err)
		}
	}
}

// TestAlgorithmParams forces each allreduce algorithm and the
// reproducible mode through the parameters and checks the results: every
// rank's bits agree, and reproducible mode gives the serial fold.
func TestAlgorithmParams(t *testing.T) {
	defer param.Unset("coll_allreduce_algorithm")
	defer param.Unset("coll_reproducible")
	in := func(r, i int) float64 { return 1 / float64(r*7+i+1) } // rounding depends on order
	const p, n = 6, 300
	serial := make([]float64, n)
	for r := 0; r < p; r++ {
		for i := range serial {
			serial[i] += in(r, i)
		}
	}
	for _, alg := range []string{"recursive_doubling", "ring", "rabenseifner", "ordered", "reproducible"} {
		t.Run(alg, func(t *testing.T) {
			param.Unset("coll_reproducible")
			if alg == "reproducible" {
				param.Unset("coll_allreduce_algorithm")
				if err := param.Set("coll_reproducible", "true"); err != nil {
					t.Fatal(err)
				}
			} else if err := param.Set("coll_allreduce_algorithm", alg); err != nil {
				t.Fatal(err)
			}
			res := make([][]float64, p)
			err := commtest.Run(p, func(c *comm.Comm) error {
				x := make([]float64, n)
				for i := range x {
					x[i] = in(c.Rank(), i)
				}
				res[c.Rank()] = make([]float64, n)
				return comm.Allreduce(c, x, res[c.Rank()], comm.Sum)
			})
			if err != nil {
				t.Fatal(err)
			}
			for r := 1; r < p; r++ {
				if err := same(fmt.Sprint("rank ", r, " vs rank 0"), res[r], res[0]); err != nil {
					t.Fatal(err)
				}
			}
			if alg == "ordered" || alg == "reproducible" {
				if err := same("serial fold", res[0], serial); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestAlgorithmTable(t *testing.T) {
	rows := comm.AlgorithmTable()
	found := false
	for _, r := range rows {
		if r.Collective == "allreduce" && r.Algorithm == "ring" && strings.Contains(r.When, "commutative") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no allreduce ring row in %v", rows)
	}
}
