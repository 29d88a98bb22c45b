package comm_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// orderSensitive is rank r's vector of n floats whose sum depends on the
// order of the additions: magnitudes from 1e-8 to 1e16, both signs, so a
// tree or a ring rounds differently from the serial left fold.
func orderSensitive(r, n int) []float64 {
	g := rand.New(rand.NewPCG(uint64(r)+1, 0x9e3779b97f4a7c15))
	x := make([]float64, n)
	for i := range x {
		x[i] = (g.Float64() - 0.5) * math.Pow(10, float64(g.IntN(25)-8))
	}
	return x
}

// serialFold is the left fold x_lo + x_lo+1 + ... + x_hi-1 of the ranks'
// vectors, added in rank order: what coll_reproducible promises.
func serialFold(in [][]float64, lo, hi, n int) []float64 {
	acc := make([]float64, n)
	copy(acc, in[lo])
	for r := lo + 1; r < hi; r++ {
		for i := range acc {
			acc[i] += in[r][i]
		}
	}
	return acc
}

// sameBits compares float64 slices bit for bit (so -0 differs from +0).
func sameBits(what string, got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return fmt.Errorf("%s: element %d is %v (%#x), serial fold gives %v (%#x)",
				what, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
	return nil
}

// choices lists the algorithms param name can force, "auto" first.
func choices(t *testing.T, name string) []string {
	for _, in := range param.All() {
		if in.Name == name {
			return in.Choices
		}
	}
	t.Fatalf("no parameter %s", name)
	return nil
}

// reproCheck runs one reduction collective on c and checks its result
// against the serial fold of in.
type reproCheck func(c *comm.Comm, in [][]float64, n int) error

var reproChecks = map[string]reproCheck{
	"allreduce": func(c *comm.Comm, in [][]float64, n int) error {
		out := make([]float64, n)
		if err := comm.Allreduce(c, in[c.Rank()], out, comm.Sum); err != nil {
			return err
		}
		return sameBits("allreduce", out, serialFold(in, 0, c.Size(), n))
	},
	"reduce": func(c *comm.Comm, in [][]float64, n int) error {
		for _, root := range []int{0, c.Size() / 2, c.Size() - 1} {
			out := make([]float64, n)
			if err := comm.Reduce(c, in[c.Rank()], out, comm.Sum, root); err != nil {
				return err
			}
			if c.Rank() == root {
				if err := sameBits(fmt.Sprintf("reduce to root %d", root), out, serialFold(in, 0, c.Size(), n)); err != nil {
					return err
				}
			}
		}
		return nil
	},
	"scan": func(c *comm.Comm, in [][]float64, n int) error {
		out := make([]float64, n)
		if err := comm.Scan(c, in[c.Rank()], out, comm.Sum); err != nil {
			return err
		}
		return sameBits("scan", out, serialFold(in, 0, c.Rank()+1, n))
	},
	"exscan": func(c *comm.Comm, in [][]float64, n int) error {
		out := make([]float64, n)
		if err := comm.Exscan(c, in[c.Rank()], out, comm.Sum); err != nil {
			return err
		}
		if c.Rank() == 0 {
			return nil // MPI leaves rank 0's result undefined
		}
		return sameBits("exscan", out, serialFold(in, 0, c.Rank(), n))
	},
	"reduce_scatter": func(c *comm.Comm, in [][]float64, n int) error {
		p, r := c.Size(), c.Rank()
		counts := make([]int, p) // uneven blocks summing to n
		off := 0
		for i := range counts {
			counts[i] = (n + i) / p
			if i < r {
				off += counts[i]
			}
		}
		out := make([]float64, counts[r])
		if err := comm.ReduceScatter(c, in[r], out, counts, comm.Sum); err != nil {
			return err
		}
		return sameBits("reduce_scatter", out, serialFold(in, 0, p, n)[off:off+counts[r]])
	},
	"reduce_scatter_block": func(c *comm.Comm, in [][]float64, n int) error {
		p, r := c.Size(), c.Rank()
		m := n / p // a block each, the rest of the vector unused
		out := make([]float64, m)
		if err := comm.ReduceScatterBlock(c, in[r][:m*p], out, comm.Sum); err != nil {
			return err
		}
		all := make([][]float64, p)
		for q := range all {
			all[q] = in[q][:m*p]
		}
		return sameBits("reduce_scatter_block", out, serialFold(all, 0, p, m*p)[r*m:(r+1)*m])
	},
}

// TestReproducibleEveryAlgorithm checks coll_reproducible's promise:
// with it on, every reduction collective gives the serial rank-order fold,
// bit for bit, whichever algorithm is forced (reduce_scatter also under
// each forced reduce, which it is built on), on 1 to 9 ranks, with counts
// that leave blocks empty and one that takes the chain past a segment.
func TestReproducibleEveryAlgorithm(t *testing.T) {
	defer param.Unset("coll_reproducible")
	if err := param.Set("coll_reproducible", "true"); err != nil {
		t.Fatal(err)
	}
	counts := []int{0, 1, 7, 100, 9000}
	maxN := counts[len(counts)-1]
	const maxP = 9
	in := make([][]float64, maxP)
	for r := range in {
		in[r] = orderSensitive(r, maxN)
	}
	type setting map[string]string
	var cases []struct {
		coll string
		set  setting
	}
	add := func(coll string, set setting) {
		cases = append(cases, struct {
			coll string
			set  setting
		}{coll, set})
	}
	for _, k := range []string{"allreduce", "reduce", "scan", "exscan"} {
		for _, a := range choices(t, "coll_"+k+"_algorithm") {
			add(k, setting{"coll_" + k + "_algorithm": a})
		}
	}
	for _, a := range choices(t, "coll_reduce_scatter_algorithm") {
		for _, b := range choices(t, "coll_reduce_algorithm") {
			set := setting{"coll_reduce_scatter_algorithm": a, "coll_reduce_algorithm": b}
			add("reduce_scatter", set)
			add("reduce_scatter_block", set)
		}
	}
	for _, tc := range cases {
		var name []string
		for k, v := range tc.set {
			name = append(name, strings.TrimSuffix(strings.TrimPrefix(k, "coll_"), "_algorithm")+"="+v)
		}
		slices.Sort(name)
		t.Run(tc.coll+"/"+strings.Join(name, ","), func(t *testing.T) {
			for k, v := range tc.set {
				if err := param.Set(k, v); err != nil {
					t.Fatal(err)
				}
				defer param.Unset(k)
			}
			for p := 1; p <= maxP; p++ {
				err := commtest.Run(p, func(c *comm.Comm) error {
					c.SetErrorHandler(comm.ErrorsReturn)
					for _, n := range counts {
						cut := make([][]float64, len(in))
						for q := range in {
							cut[q] = in[q][:n]
						}
						if err := reproChecks[tc.coll](c, cut, n); err != nil {
							return fmt.Errorf("%d elements: %w", n, err)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%d ranks: %v", p, err)
				}
			}
		})
	}
}

// TestReproducibleWarning: a forced reduction algorithm that the
// reproducible mode overrides is named in the Init warning, with the mode;
// nothing is said when nothing is overridden.
func TestReproducibleWarning(t *testing.T) {
	defer param.Unset("coll_reproducible")
	defer param.Unset("coll_allreduce_algorithm")
	defer param.Unset("coll_scan_algorithm")
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{nil, ""},
		{[]string{"coll_allreduce_algorithm", "ring"}, ""},
		{[]string{"coll_reproducible", "true"}, ""},
		{[]string{"coll_reproducible", "true", "coll_allreduce_algorithm", "ordered"}, ""},
		{[]string{"coll_reproducible", "true", "coll_allreduce_algorithm", "ring", "coll_scan_algorithm", "recursive_doubling"},
			"mpx: coll_reproducible=true overrides coll_allreduce_algorithm=ring, coll_scan_algorithm=recursive_doubling: reductions fold in rank order (see `mpx info`)\n"},
	} {
		for _, n := range []string{"coll_reproducible", "coll_allreduce_algorithm", "coll_scan_algorithm"} {
			param.Unset(n)
		}
		for i := 0; i < len(tc.set); i += 2 {
			if err := param.Set(tc.set[i], tc.set[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		comm.WarnOverriddenForTest(&b)
		if b.String() != tc.want {
			t.Errorf("with %q: warning %q, want %q", tc.set, b.String(), tc.want)
		}
	}
}
