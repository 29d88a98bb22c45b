// Command collalgs runs every collective, with every algorithm forced in
// turn through its parameter, between real processes, and checks each
// result against a serial oracle; on the world, on a Split and on a
// Cartesian sub-grid. comm's launch tests run it through `mpx run`. Rank 0
// prints one summary line. Launched with --param coll_reproducible=true it
// also checks, under every setting, that the reductions of floats whose
// sum depends on the order of the additions are the serial rank-order
// fold, bit for bit.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/param"
)

func main() {
	big := flag.Int("big", 0, "also check this many elements per rank (0: only 0, 1, 7, 1000)")
	flag.Parse()
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "collalgs:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	counts := []int{0, 1, 7, 1000}
	if *big > 0 {
		counts = append(counts, *big)
	}
	settings, err := run(w, counts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "collalgs rank %d: %v\n", w.Rank(), err)
		os.Exit(1)
	}
	if w.Rank() == 0 {
		mode := ""
		if reproducible() {
			mode = ", reproducible"
		}
		fmt.Printf("collalgs: %d ranks, %d algorithm settings checked%s: ok\n", w.Size(), settings, mode)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "collalgs:", err)
		os.Exit(1)
	}
}

// run checks the default choice and then every forced algorithm.
func run(w *comm.Comm, counts []int) (int, error) {
	settings := 1
	if err := suite(w, counts); err != nil {
		return settings, fmt.Errorf("default algorithms: %w", err)
	}
	for _, in := range param.All() {
		if !strings.HasPrefix(in.Name, "coll_") || !strings.HasSuffix(in.Name, "_algorithm") {
			continue
		}
		for _, alg := range in.Choices {
			if alg == "auto" {
				continue
			}
			if err := param.Set(in.Name, alg); err != nil {
				return settings, err
			}
			settings++
			if err := suite(w, counts); err != nil {
				return settings, fmt.Errorf("%s=%s: %w", in.Name, alg, err)
			}
			param.Unset(in.Name)
		}
	}
	return settings, nil
}

func suite(w *comm.Comm, counts []int) error {
	for _, n := range counts {
		if err := all(w, n); err != nil {
			return fmt.Errorf("world, %d elements: %w", n, err)
		}
	}
	half, err := w.Split(w.Rank()%2, w.Rank())
	if err != nil {
		return err
	}
	if err := all(half, 7); err != nil {
		return fmt.Errorf("split: %w", err)
	}
	dims, err := comm.DimsCreate(w.Size(), []int{0, 0})
	if err != nil {
		return err
	}
	grid, err := w.Cart(dims, []bool{true, true}, false)
	if err != nil {
		return err
	}
	row, err := grid.Sub([]bool{false, true})
	if err != nil {
		return err
	}
	if err := all(row, 7); err != nil {
		return fmt.Errorf("cart sub: %w", err)
	}
	// Halo: every neighbour's rank arrives.
	send := slices.Repeat([]int{grid.Rank()}, 4)
	recv := make([]int, 4)
	if err := comm.NeighborAlltoall(grid, send, recv); err != nil {
		return err
	}
	for d := 0; d < 2; d++ {
		down, up, _ := grid.Shift(d, 1)
		if recv[2*d] != down || recv[2*d+1] != up {
			return fmt.Errorf("halo of rank %d: %v", grid.Rank(), recv)
		}
	}
	for _, c := range []*comm.Comm{half, row, grid} {
		if err := c.Free(); err != nil {
			return err
		}
	}
	return nil
}

func v(r, i int) float64 { return float64((r*37 + i*11 + 5) % 97) }

func vec(r, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = v(r, i)
	}
	return x
}

func sumOf(lo, hi, n int) []float64 {
	s := make([]float64, n)
	for r := lo; r < hi; r++ {
		for i := range s {
			s[i] += v(r, i)
		}
	}
	return s
}

func same(what string, got, want []float64) error {
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("%s: %d elements, want %d; first difference at %d", what, len(got), len(want), i)
	}
	return nil
}

// all runs every collective on c with n elements per rank.
func all(c *comm.Comm, n int) error {
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
	var whole []float64
	for q := 0; q < p; q++ {
		whole = append(whole, vec(q, n)...)
	}
	got := make([]float64, n*p)
	if err := comm.Gather(c, vec(r, n), got, root); err != nil {
		return err
	}
	if r == root {
		if err := same("gather", got, whole); err != nil {
			return err
		}
	}
	mine := make([]float64, n)
	if err := comm.Scatter(c, whole, mine, root); err != nil {
		return err
	}
	if err := same("scatter", mine, vec(r, n)); err != nil {
		return err
	}
	if err := comm.Allgather(c, vec(r, n), got); err != nil {
		return err
	}
	if err := same("allgather", got, whole); err != nil {
		return err
	}
	send, want := make([]float64, n*p), make([]float64, n*p)
	for d := 0; d < p; d++ {
		for j := 0; j < n; j++ {
			send[d*n+j] = float64(r*1000 + d*10 + j%10)
			want[d*n+j] = float64(d*1000 + r*10 + j%10)
		}
	}
	if err := comm.Alltoall(c, send, got); err != nil {
		return err
	}
	if err := same("alltoall", got, want); err != nil {
		return err
	}
	rs := make([]float64, n)
	if err := comm.ReduceScatterBlock(c, vec(r, n*p), rs, comm.Sum); err != nil {
		return err
	}
	if err := same("reduce_scatter_block", rs, sumOf(0, p, n*p)[r*n:(r+1)*n]); err != nil {
		return err
	}
	if err := comm.Scan(c, vec(r, n), out, comm.Sum); err != nil {
		return err
	}
	if err := same("scan", out, sumOf(0, r+1, n)); err != nil {
		return err
	}
	if err := comm.Exscan(c, vec(r, n), out, comm.Sum); err != nil {
		return err
	}
	if r > 0 {
		if err := same("exscan", out, sumOf(0, r, n)); err != nil {
			return err
		}
	}
	if reproducible() {
		return serialFold(c, n)
	}
	return nil
}

// reproducible reports whether coll_reproducible is on.
func reproducible() bool {
	for _, in := range param.All() {
		if in.Name == "coll_reproducible" {
			return in.Value == "true"
		}
	}
	return false
}

// spread is rank r's element i: magnitudes from 1e-8 to 1e16 and both
// signs, so that any order of the additions but the serial one rounds
// differently somewhere.
func spread(r, i int) float64 {
	h := uint64(r)*0x9e3779b97f4a7c15 ^ uint64(i)*0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	mant := float64(h>>11)/float64(1<<53) - 0.5
	return mant * math.Pow(10, float64(int(h%25)-8))
}

// fold is the serial left fold over ranks lo..hi-1 of spread's vectors.
func fold(lo, hi, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = spread(lo, i)
		for r := lo + 1; r < hi; r++ {
			s[i] += spread(r, i)
		}
	}
	return s
}

// sameBits is same, comparing the bits.
func sameBits(what string, got, want []float64) error {
	for i := range min(len(got), len(want)) {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return fmt.Errorf("%s: element %d is %v, the serial fold %v", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d elements, want %d", what, len(got), len(want))
	}
	return nil
}

// serialFold checks the reproducible mode's promise on c: every reduction
// gives the serial rank-order fold, bit for bit.
func serialFold(c *comm.Comm, n int) error {
	r, p := c.Rank(), c.Size()
	mine := func(m int) []float64 {
		x := make([]float64, m)
		for i := range x {
			x[i] = spread(r, i)
		}
		return x
	}
	out := make([]float64, n)
	if err := comm.Allreduce(c, mine(n), out, comm.Sum); err != nil {
		return err
	}
	if err := sameBits("reproducible allreduce", out, fold(0, p, n)); err != nil {
		return err
	}
	root := p / 2
	if err := comm.Reduce(c, mine(n), out, comm.Sum, root); err != nil {
		return err
	}
	if r == root {
		if err := sameBits("reproducible reduce", out, fold(0, p, n)); err != nil {
			return err
		}
	}
	rs := make([]float64, n)
	if err := comm.ReduceScatterBlock(c, mine(n*p), rs, comm.Sum); err != nil {
		return err
	}
	if err := sameBits("reproducible reduce_scatter_block", rs, fold(0, p, n*p)[r*n:(r+1)*n]); err != nil {
		return err
	}
	if err := comm.Scan(c, mine(n), out, comm.Sum); err != nil {
		return err
	}
	if err := sameBits("reproducible scan", out, fold(0, r+1, n)); err != nil {
		return err
	}
	if err := comm.Exscan(c, mine(n), out, comm.Sum); err != nil {
		return err
	}
	if r > 0 {
		return sameBits("reproducible exscan", out, fold(0, r, n))
	}
	return nil
}
