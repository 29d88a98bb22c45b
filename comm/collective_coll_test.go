package comm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// v is rank r's element i: small integers, so float sums are exact in any
// order.
func v(r, i int) float64 { return float64((r*37 + i*11 + 5) % 97) }

func vec(r, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = v(r, i)
	}
	return x
}

func same[T comparable](what string, got, want []T) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
	return nil
}

// sumOf is the serial oracle of a Sum over ranks lo..hi-1.
func sumOf(lo, hi, n int) []float64 {
	s := make([]float64, n)
	for r := lo; r < hi; r++ {
		for i := range s {
			s[i] += v(r, i)
		}
	}
	return s
}

// allCollectives runs every blocking collective on c with n elements per
// rank and checks each against the serial oracle. Ranks are c's; base
// maps them to the values' ranks so sub-communicators check too.
func allCollectives(c *comm.Comm, n int) error {
	r, p := c.Rank(), c.Size()
	root := p / 2
	if err := comm.Barrier(c); err != nil {
		return err
	}
	buf := make([]float64, n)
	if r == root {
		copy(buf, vec(root, n))
	}
	if err := comm.Bcast(c, buf, root); err != nil {
		return err
	}
	if err := same("bcast", buf, vec(root, n)); err != nil {
		return err
	}
	out := make([]float64, n)
	if err := comm.Reduce(c, vec(r, n), out, comm.Sum, root); err != nil {
		return err
	}
	if r == root {
		if err := same("reduce", out, sumOf(0, p, n)); err != nil {
			return err
		}
	}
	if err := comm.Allreduce(c, vec(r, n), out, comm.Sum); err != nil {
		return err
	}
	if err := same("allreduce", out, sumOf(0, p, n)); err != nil {
		return err
	}
	in := vec(r, n) // in place
	if err := comm.Allreduce(c, nil, in, comm.Sum); err != nil {
		return err
	}
	if err := same("allreduce in place", in, sumOf(0, p, n)); err != nil {
		return err
	}
	var all []float64
	for q := 0; q < p; q++ {
		all = append(all, vec(q, n)...)
	}
	got := make([]float64, n*p)
	if err := comm.Gather(c, vec(r, n), got, root); err != nil {
		return err
	}
	if r == root {
		if err := same("gather", got, all); err != nil {
			return err
		}
	}
	mine := make([]float64, n)
	if err := comm.Scatter(c, all, mine, root); err != nil {
		return err
	}
	if err := same("scatter", mine, vec(r, n)); err != nil {
		return err
	}
	clear(got)
	if err := comm.Allgather(c, vec(r, n), got); err != nil {
		return err
	}
	if err := same("allgather", got, all); err != nil {
		return err
	}
	// v-variants: rank q contributes q%3 elements, placed in reverse order.
	counts, displs, total := make([]int, p), make([]int, p), 0
	for q := p - 1; q >= 0; q-- {
		counts[q], displs[q] = (q%3)*n/4, total
		total += counts[q]
	}
	wantv := make([]float64, total)
	for q := 0; q < p; q++ {
		copy(wantv[displs[q]:], vec(q, counts[q]))
	}
	gv := make([]float64, total)
	if err := comm.Gatherv(c, vec(r, counts[r]), gv, counts, displs, root); err != nil {
		return err
	}
	if r == root {
		if err := same("gatherv", gv, wantv); err != nil {
			return err
		}
	}
	sv := make([]float64, counts[r])
	if err := comm.Scatterv(c, wantv, sv, counts, displs, root); err != nil {
		return err
	}
	if err := same("scatterv", sv, vec(r, counts[r])); err != nil {
		return err
	}
	clear(gv)
	if err := comm.Allgatherv(c, vec(r, counts[r]), gv, counts, displs); err != nil {
		return err
	}
	if err := same("allgatherv", gv, wantv); err != nil {
		return err
	}
	// Alltoall: element j of block d sent by s is s*1000+d*10+j.
	send, wanta := make([]float64, n*p), make([]float64, n*p)
	for d := 0; d < p; d++ {
		for j := 0; j < n; j++ {
			send[d*n+j] = float64(r*1000 + d*10 + j)
			wanta[d*n+j] = float64(d*1000 + r*10 + j)
		}
	}
	recv := make([]float64, n*p)
	if err := comm.Alltoall(c, send, recv); err != nil {
		return err
	}
	if err := same("alltoall", recv, wanta); err != nil {
		return err
	}
	clear(recv)
	if err := comm.Alltoallv(c, send, equal(p, n), displsOf(p, n), recv, equal(p, n), displsOf(p, n)); err != nil {
		return err
	}
	if err := same("alltoallv", recv, wanta); err != nil {
		return err
	}
	// ReduceScatterBlock over p blocks of n.
	rs := make([]float64, n)
	if err := comm.ReduceScatterBlock(c, vecN(r, n*p), rs, comm.Sum); err != nil {
		return err
	}
	if err := same("reduce_scatter_block", rs, sumN(p, n*p)[r*n:(r+1)*n]); err != nil {
		return err
	}
	if err := comm.Scan(c, vec(r, n), out, comm.Sum); err != nil {
		return err
	}
	if err := same("scan", out, sumOf(0, r+1, n)); err != nil {
		return err
	}
	ex := slices.Repeat([]float64{-1}, n)
	if err := comm.Exscan(c, vec(r, n), ex, comm.Sum); err != nil {
		return err
	}
	wantEx := sumOf(0, r, n)
	if r == 0 {
		wantEx = slices.Repeat([]float64{-1}, n) // not written
	}
	return same("exscan", ex, wantEx)
}

func equal(p, n int) []int { return slices.Repeat([]int{n}, p) }

func displsOf(p, n int) []int {
	d := make([]int, p)
	for i := range d {
		d[i] = i * n
	}
	return d
}

func vecN(r, n int) []float64 { return vec(r, n) }

func sumN(p, n int) []float64 { return sumOf(0, p, n) }

// TestCollectives runs every collective on every size 1..17 with
// several counts, on the world, on a Split by parity and on a Cartesian
// sub-grid.
func TestCollectives(t *testing.T) {
	for p := 1; p <= 17; p++ {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			err := commtest.Run(p, func(c *comm.Comm) error {
				for _, n := range []int{0, 1, 7, 1000} {
					if err := allCollectives(c, n); err != nil {
						return fmt.Errorf("world n=%d: %w", n, err)
					}
				}
				half, err := c.Split(c.Rank()%2, -c.Rank()) // reversed order
				if err != nil {
					return err
				}
				par := c.Rank() % 2
				if want := (p + 1 - par) / 2; half.Size() != want {
					return fmt.Errorf("split: half %d has %d ranks, want %d", par, half.Size(), want)
				}
				if want := (p - 1 - c.Rank()) / 2; half.Rank() != want { // keys reverse the order
					return fmt.Errorf("split: rank %d is %d in its half, want %d", c.Rank(), half.Rank(), want)
				}
				if err := allCollectives(half, 7); err != nil {
					return fmt.Errorf("split: %w", err)
				}
				dims, err := comm.DimsCreate(p, []int{0, 0})
				if err != nil {
					return err
				}
				grid, err := c.Cart(dims, []bool{true, false}, false)
				if err != nil {
					return err
				}
				row, err := grid.Sub([]bool{false, true})
				if err != nil {
					return err
				}
				if row.Size() != dims[1] {
					return fmt.Errorf("sub: row of %d ranks, want %d", row.Size(), dims[1])
				}
				if err := allCollectives(row, 7); err != nil {
					return fmt.Errorf("cart sub: %w", err)
				}
				for _, x := range []*comm.Comm{half, row, grid} {
					if err := x.Free(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEveryAlgorithm forces each algorithm of each collective in turn
// through its parameter and runs every collective on a spread of sizes
// (comm/internal/coll tests each algorithm on every size 1..17).
func TestEveryAlgorithm(t *testing.T) {
	for _, in := range param.All() {
		if !strings.HasPrefix(in.Name, "coll_") || !strings.HasSuffix(in.Name, "_algorithm") {
			continue
		}
		for _, alg := range in.Choices {
			if alg == "auto" {
				continue
			}
			t.Run(in.Name+"="+alg, func(t *testing.T) {
				if err := param.Set(in.Name, alg); err != nil {
					t.Fatal(err)
				}
				defer param.Unset(in.Name)
				for _, p := range []int{1, 2, 3, 5, 8, 17} {
					err := commtest.Run(p, func(c *comm.Comm) error {
						for _, n := range []int{0, 7, 1000} {
							if err := allCollectives(c, n); err != nil {
								return fmt.Errorf("n=%d: %w", n, err)
							}
						}
						return nil
					})
					if err != nil {
						t.Fatalf("p=%d: %v", p, err)
					}
				}
			})
		}
	}
}
