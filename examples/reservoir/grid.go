package main

import (
	"fmt"
	"strings"
)

// block is this rank's part of the global nx×ny×nz grid: an interior box
// of l[0]×l[1]×l[2] cells starting at global cell o, stored with one layer
// of halo cells all round, i fastest.
type block struct {
	n    [3]int // global grid
	p    [3]int // process grid
	l    [3]int // interior cells on this rank
	o    [3]int // global index of the first interior cell
	sj   int    // stride of j in the padded array
	sk   int    // stride of k
	size int    // padded length
}

func newBlock(n, p, coords [3]int) block {
	b := block{n: n, p: p}
	for d := range 3 {
		b.l[d] = n[d] / p[d]
		b.o[d] = coords[d] * b.l[d]
	}
	b.sj = b.l[0] + 2
	b.sk = b.sj * (b.l[1] + 2)
	b.size = b.sk * (b.l[2] + 2)
	return b
}

// at is the padded index of local cell (i, j, k); -1 and l[d] are halo.
func (b *block) at(i, j, k int) int { return (i + 1) + (j+1)*b.sj + (k+1)*b.sk }

// stride is the padded index step along dimension d.
func (b *block) stride(d int) int { return [3]int{1, b.sj, b.sk}[d] }

// cells is the number of interior cells.
func (b *block) cells() int { return b.l[0] * b.l[1] * b.l[2] }

// interior calls fn for every interior cell in natural order (i fastest).
func (b *block) interior(fn func(i, j, k, c int)) {
	for k := 0; k < b.l[2]; k++ {
		for j := 0; j < b.l[1]; j++ {
			c := b.at(0, j, k)
			for i := 0; i < b.l[0]; i++ {
				fn(i, j, k, c+i)
			}
		}
	}
}

// local maps a global cell to this rank's local coordinates; ok is false
// when the cell belongs to another rank.
func (b *block) local(g [3]int) (l [3]int, ok bool) {
	for d := range 3 {
		l[d] = g[d] - b.o[d]
		if l[d] < 0 || l[d] >= b.l[d] {
			return l, false
		}
	}
	return l, true
}

// chooseProcs picks the process grid for size ranks. Fixed entries of
// want (non-zero) are kept; the rest are chosen among the factorisations
// that divide the grid evenly, least halo surface first. A grid that no
// choice divides is an error naming the dimensions.
func chooseProcs(n [3]int, want [3]int, size int) ([3]int, error) {
	best := [3]int{}
	bestCost := -1
	for px := 1; px <= size; px++ {
		if size%px != 0 {
			continue
		}
		for py := 1; py <= size/px; py++ {
			if (size/px)%py != 0 {
				continue
			}
			p := [3]int{px, py, size / px / py}
			ok := true
			for d := range 3 {
				if (want[d] != 0 && want[d] != p[d]) || n[d]%p[d] != 0 {
					ok = false
				}
			}
			if !ok {
				continue
			}
			// Cells on process boundaries: the halo traffic per step.
			cost := 0
			for d := range 3 {
				cost += (p[d] - 1) * n[0] * n[1] * n[2] / n[d]
			}
			if bestCost < 0 || cost < bestCost {
				best, bestCost = p, cost
			}
		}
	}
	if bestCost >= 0 {
		return best, nil
	}
	if want[0] > 0 && want[1] > 0 && want[2] > 0 {
		if want[0]*want[1]*want[2] != size {
			return best, fmt.Errorf("process grid -procs %dx%dx%d has %d processes but the job has %d",
				want[0], want[1], want[2], want[0]*want[1]*want[2], size)
		}
		var why []string
		for d, name := range []string{"nx", "ny", "nz"} {
			if n[d]%want[d] != 0 {
				why = append(why, fmt.Sprintf("%s=%d is not divisible by %d", name, n[d], want[d]))
			}
		}
		return best, fmt.Errorf("grid %dx%dx%d is not divisible by process grid %dx%dx%d: %s",
			n[0], n[1], n[2], want[0], want[1], want[2], strings.Join(why, ", "))
	}
	return best, fmt.Errorf("grid %dx%dx%d cannot be split evenly over %d processes (with -procs %dx%dx%d, 0 = free): choose a grid divisible by a factorisation of %d",
		n[0], n[1], n[2], size, want[0], want[1], want[2], size)
}
