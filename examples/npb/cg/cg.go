package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
)

// cgIters is the fixed number of conjugate-gradient steps of one inner
// solve (NPB's cgitmax).
const cgIters = 25

// Tags of the transpose exchange after each matrix-vector product.
const tagTranspose = 1

// grid is this rank's place in NPB CG's 2-D process grid: nprows × npcols
// ranks, npcols = nprows or 2·nprows. The matrix is split into npcols
// column blocks; a row block is k = npcols/nprows consecutive column
// blocks, so block boundaries always line up. Rank (pr, pc) = pr·npcols+pc
// holds A[row block pr, column block pc]; vectors are held by column
// block, the same on every rank of a process column.
type grid struct {
	nprows, npcols, k int
	pr, pc            int
	colStart          []int // column block b is [colStart[b], colStart[b+1])
	blockLens         []int // colStart[b+1] - colStart[b]
	row0, row1        int   // this rank's rows
	col0, col1        int   // this rank's columns
	rowComm           *comm.Comm
	partner           int // the rank of the transpose exchange
	sendOff, sendLen  int // the part of the summed row block sent
}

// procGrid returns NPB's process grid for np ranks: nprows = npcols when
// log2(np) is even, else npcols = 2·nprows.
func procGrid(np int) (nprows, npcols int, err error) {
	if !npb.PowerOfTwo(np) {
		return 0, 0, fmt.Errorf("CG runs on a power-of-two number of ranks (NPB's 2-D process grid), not %d", np)
	}
	nprows = 1
	for nprows*nprows*4 <= np {
		nprows *= 2
	}
	return nprows, np / nprows, nil
}

func newGrid(c *comm.Comm, na int) (*grid, error) {
	nprows, npcols, err := procGrid(c.Size())
	if err != nil {
		return nil, err
	}
	if npcols > na {
		return nil, fmt.Errorf("CG with na=%d cannot use %d process columns (%d ranks)", na, npcols, c.Size())
	}
	g := &grid{nprows: nprows, npcols: npcols, k: npcols / nprows}
	g.pr, g.pc = c.Rank()/npcols, c.Rank()%npcols
	g.colStart = make([]int, npcols+1)
	for b := range g.colStart {
		g.colStart[b] = b * na / npcols
	}
	for b := 0; b < npcols; b++ {
		g.blockLens = append(g.blockLens, g.colStart[b+1]-g.colStart[b])
	}
	g.row0, g.row1 = g.colStart[g.pr*g.k], g.colStart[(g.pr+1)*g.k]
	g.col0, g.col1 = g.colStart[g.pc], g.colStart[g.pc+1]
	// Rank (r, c) sends column block r·k + c%k of its summed row block to
	// rank (c/k, r·k + c%k), which is also the rank it receives its own
	// column block from: the pairing is its own inverse. For k = 1 it is
	// the transpose (pr, pc) ↔ (pc, pr).
	j := g.pc % g.k
	g.partner = (g.pc/g.k)*npcols + g.pr*g.k + j
	g.sendOff = g.colStart[g.pr*g.k+j] - g.row0
	g.sendLen = g.colStart[g.pr*g.k+j+1] - g.colStart[g.pr*g.k+j]
	if g.rowComm, err = c.Split(g.pr, g.pc); err != nil {
		return nil, fmt.Errorf("CG row communicator: %w", err)
	}
	return g, nil
}

// matrix is this rank's block of A in compressed rows, columns local to
// the column block.
type matrix struct {
	rowstr []int
	colidx []int32
	a      []float64
}

// generator is NPB's stream shared by makea's calls to sprnvc.
type generator struct{ tran, amult float64 }

func (g *generator) next() float64 { return npb.Randlc(&g.tran, g.amult) }

// sprnvc returns nz distinct random positions in [0, n) with random
// values, drawing (value, position) pairs and skipping positions ≥ n
// (drawn in [0, nn1), nn1 the power of two ≥ n) and repeats.
func (g *generator) sprnvc(n, nz, nn1 int, v []float64, iv []int) ([]float64, []int) {
	v, iv = v[:0], iv[:0]
	for len(v) < nz {
		val := g.next()
		i := int(float64(nn1) * g.next())
		if i >= n || slices.Contains(iv, i) {
			continue
		}
		v = append(v, val)
		iv = append(iv, i)
	}
	return v, iv
}

// vecset sets element i of the sparse vector (v, iv) to val, adding it if
// absent.
func vecset(v []float64, iv []int, i int, val float64) ([]float64, []int) {
	set := false
	for k := range iv {
		if iv[k] == i {
			v[k] = val
			set = true
		}
	}
	if !set {
		v = append(v, val)
		iv = append(iv, i)
	}
	return v, iv
}

// makea builds this rank's block of NPB's matrix: the sum over i of
// size_i·x_i·x_iᵀ for n random sparse vectors x_i (each with x_i[i] = ½),
// size_i = rcond^(i/n), plus (rcond − shift) on the diagonal. Every rank
// draws the whole random sequence, as in NPB, and keeps its own block.
// The generator must have been advanced once, as NPB's main program does.
func makea(p npb.CGParams, g *grid, gen *generator) *matrix {
	n := p.NA
	nn1 := 1
	for nn1 < n {
		nn1 *= 2
	}
	// The generated vectors, nonzer+1 slots each.
	w := p.Nonzer + 1
	acol := make([]int, n*w)
	aelt := make([]float64, n*w)
	arow := make([]int, n)
	v, iv := make([]float64, 0, w), make([]int, 0, w)
	for i := 0; i < n; i++ {
		v, iv = gen.sprnvc(n, p.Nonzer, nn1, v, iv)
		v, iv = vecset(v, iv, i, 0.5)
		arow[i] = len(v)
		copy(acol[i*w:], iv)
		copy(aelt[i*w:], v)
	}
	inRows := func(j int) bool { return j >= g.row0 && j < g.row1 }
	inCols := func(j int) bool { return j >= g.col0 && j < g.col1 }
	nrows := g.row1 - g.row0
	// Count this block's entries per row (duplicates included), then place
	// them in generation order: duplicates are summed in that order, as in
	// NPB's sparse.
	start := make([]int, nrows+1)
	for i := 0; i < n; i++ {
		cols := acol[i*w : i*w+arow[i]]
		incols := 0
		for _, c := range cols {
			if inCols(c) {
				incols++
			}
		}
		for _, j := range cols {
			if inRows(j) {
				start[j-g.row0+1] += incols
			}
		}
	}
	for j := 0; j < nrows; j++ {
		start[j+1] += start[j]
	}
	type entry struct {
		col int32
		val float64
	}
	ents := make([]entry, start[nrows])
	fill := slices.Clone(start[:nrows])
	ratio := math.Pow(p.Rcond, 1/float64(n))
	size := 1.0
	for i := 0; i < n; i++ {
		cols, vals := acol[i*w:i*w+arow[i]], aelt[i*w:i*w+arow[i]]
		for nza, j := range cols {
			if !inRows(j) {
				continue
			}
			scale := size * vals[nza]
			for nzrow, jcol := range cols {
				if !inCols(jcol) {
					continue
				}
				va := vals[nzrow] * scale
				if jcol == j && j == i {
					// rcond on the diagonal bounds the smallest eigenvalue
					// from below; the shift moves the spectrum.
					va = va + p.Rcond - p.Shift
				}
				ents[fill[j-g.row0]] = entry{int32(jcol - g.col0), va}
				fill[j-g.row0]++
			}
		}
		size *= ratio
	}
	m := &matrix{rowstr: make([]int, nrows+1)}
	m.colidx = make([]int32, 0, len(ents))
	m.a = make([]float64, 0, len(ents))
	for j := 0; j < nrows; j++ {
		row := ents[start[j]:start[j+1]]
		slices.SortStableFunc(row, func(x, y entry) int { return int(x.col) - int(y.col) })
		for k := 0; k < len(row); {
			c, sum := row[k].col, 0.0
			for ; k < len(row) && row[k].col == c; k++ {
				sum += row[k].val
			}
			m.colidx = append(m.colidx, c)
			m.a = append(m.a, sum)
		}
		m.rowstr[j+1] = len(m.a)
	}
	return m
}

// solver holds one rank's state of the benchmark.
type solver struct {
	p             npb.CGParams
	g             *grid
	m             *matrix
	x, z, pv, q   []float64 // column-block vectors
	r             []float64
	w, wsum       []float64 // row-block partial and summed products
	dot1, dotsum1 []float64
	dot2, dotsum2 []float64
}

func newSolver(c *comm.Comm, p npb.CGParams) (*solver, error) {
	g, err := newGrid(c, p.NA)
	if err != nil {
		return nil, err
	}
	gen := &generator{tran: npb.Seed, amult: npb.A}
	gen.next() // NPB's main program draws once before makea
	s := &solver{p: p, g: g, m: makea(p, g, gen)}
	nc, nr := g.col1-g.col0, g.row1-g.row0
	s.x, s.z, s.pv, s.q, s.r = make([]float64, nc), make([]float64, nc), make([]float64, nc), make([]float64, nc), make([]float64, nc)
	s.w, s.wsum = make([]float64, nr), make([]float64, nr)
	s.dot1, s.dotsum1 = make([]float64, 1), make([]float64, 1)
	s.dot2, s.dotsum2 = make([]float64, 2), make([]float64, 2)
	return s, nil
}

// rowSum sums v over the ranks of this process row (the column blocks).
func (s *solver) rowSum(v, out []float64) error {
	if s.g.npcols == 1 {
		copy(out, v)
		return nil
	}
	return comm.Allreduce(s.g.rowComm, v, out, comm.Sum)
}

// matvec sets y = A·v for column-block vectors: the local block product,
// summed across the process row, then moved to the ranks that hold that
// column block.
func (s *solver) matvec(c *comm.Comm, v, y []float64) error {
	m := s.m
	for j := range s.w {
		lo, hi := m.rowstr[j], m.rowstr[j+1]
		row, cols := m.a[lo:hi], m.colidx[lo:hi]
		cols = cols[:len(row)] // one bounds check for the row
		sum := 0.0
		for k, av := range row {
			sum += av * v[cols[k]]
		}
		s.w[j] = sum
	}
	g := s.g
	if g.nprows == 1 && g.npcols > 1 {
		// One process row: each rank needs only its own column block of
		// the sum, half the traffic of summing everything everywhere.
		return comm.ReduceScatter(g.rowComm, s.w, y, g.blockLens, comm.Sum)
	}
	if err := s.rowSum(s.w, s.wsum); err != nil {
		return err
	}
	part := s.wsum[g.sendOff : g.sendOff+g.sendLen]
	if g.partner == c.Rank() {
		copy(y, part)
		return nil
	}
	rr, err := comm.Irecv(c, y, g.partner, tagTranspose)
	if err != nil {
		return err
	}
	sr, err := comm.Isend(c, part, g.partner, tagTranspose)
	if err != nil {
		return err
	}
	return comm.Waitall(rr, sr)
}

func (s *solver) dot(a, b []float64) (float64, error) {
	d := 0.0
	for j := range a {
		d += a[j] * b[j]
	}
	s.dot1[0] = d
	err := s.rowSum(s.dot1, s.dotsum1)
	return s.dotsum1[0], err
}

// conjGrad runs cgIters steps of CG on A·z = x from z = 0 and returns
// ‖x − A·z‖.
func (s *solver) conjGrad(c *comm.Comm) (float64, error) {
	x, z, p, q, r := s.x, s.z, s.pv, s.q, s.r
	for j := range x {
		q[j], z[j], r[j], p[j] = 0, 0, x[j], x[j]
	}
	rho, err := s.dot(r, r)
	if err != nil {
		return 0, err
	}
	for it := 0; it < cgIters; it++ {
		if err := s.matvec(c, p, q); err != nil {
			return 0, err
		}
		d, err := s.dot(p, q)
		if err != nil {
			return 0, err
		}
		alpha := rho / d
		rho0 := rho
		for j := range z {
			z[j] += alpha * p[j]
			r[j] -= alpha * q[j]
		}
		if rho, err = s.dot(r, r); err != nil {
			return 0, err
		}
		beta := rho / rho0
		for j := range p {
			p[j] = r[j] + beta*p[j]
		}
	}
	// The explicit residual, r = A·z first.
	if err := s.matvec(c, z, r); err != nil {
		return 0, err
	}
	sum := 0.0
	for j := range x {
		d := x[j] - r[j]
		sum += d * d
	}
	s.dot1[0] = sum
	if err := s.rowSum(s.dot1, s.dotsum1); err != nil {
		return 0, err
	}
	return math.Sqrt(s.dotsum1[0]), nil
}

// power runs one step of the inverse power method: solve, then return
// zeta = shift + 1/(x·z) and set x = z/‖z‖.
func (s *solver) power(c *comm.Comm) (zeta, rnorm float64, err error) {
	if rnorm, err = s.conjGrad(c); err != nil {
		return 0, 0, err
	}
	var t1, t2 float64
	for j := range s.x {
		t1 += s.x[j] * s.z[j]
		t2 += s.z[j] * s.z[j]
	}
	s.dot2[0], s.dot2[1] = t1, t2
	if err := s.rowSum(s.dot2, s.dotsum2); err != nil {
		return 0, 0, err
	}
	t1, t2 = s.dotsum2[0], 1/math.Sqrt(s.dotsum2[1])
	for j := range s.x {
		s.x[j] = t2 * s.z[j]
	}
	return s.p.Shift + 1/t1, rnorm, nil
}

func (s *solver) resetX() {
	for j := range s.x {
		s.x[j] = 1
	}
}

// mops is NPB CG's operation count over t seconds, in millions per second.
func mops(p npb.CGParams, t float64) float64 {
	if t == 0 {
		return 0
	}
	nz := float64(p.Nonzer * (p.Nonzer + 1))
	return 2 * float64(p.Niter) * float64(p.NA) * (3 + nz + 25*(5+nz) + 3) / t / 1e6
}

// Run runs CG class p on c and returns the report (the same on every
// rank). Progress lines go to log when it is not nil.
func Run(c *comm.Comm, p npb.CGParams, log io.Writer) (npb.Report, error) {
	rep := npb.Report{Name: "CG", Class: p.Class, Size: fmt.Sprint(p.NA), Iterations: p.Niter,
		Ranks: c.Size(), Label: "zeta", Reference: p.Zeta, Epsilon: npb.CGEpsilon}
	t0 := time.Now()
	s, err := newSolver(c, p)
	if err != nil {
		return rep, err
	}
	defer s.g.rowComm.Free()
	// One untimed iteration to touch all data, then start again, as NPB.
	s.resetX()
	if _, _, err := s.power(c); err != nil {
		return rep, err
	}
	s.resetX()
	if log != nil {
		fmt.Fprintf(log, " Initialization time = %15.3f seconds\n", time.Since(t0).Seconds())
		fmt.Fprintf(log, " Process grid %d x %d\n\n   iteration           ||r||                 zeta\n", s.g.nprows, s.g.npcols)
	}
	if err := comm.Barrier(c); err != nil {
		return rep, err
	}
	start, cpu0 := time.Now(), npb.ProcessCPU()
	var zeta float64
	for it := 1; it <= p.Niter; it++ {
		var rnorm float64
		if zeta, rnorm, err = s.power(c); err != nil {
			return rep, err
		}
		if log != nil {
			fmt.Fprintf(log, "    %5d       %20.14e%20.13f\n", it, rnorm, zeta)
		}
	}
	t := []float64{time.Since(start).Seconds()}
	cpu := []float64{(npb.ProcessCPU() - cpu0).Seconds()}
	tmax, cpuSum := []float64{0}, []float64{0}
	if err := comm.Allreduce(c, t, tmax, comm.Max); err != nil {
		return rep, err
	}
	if err := comm.Allreduce(c, cpu, cpuSum, comm.Sum); err != nil {
		return rep, err
	}
	rep.CPUSeconds = cpuSum[0]
	rep.Seconds, rep.Value, rep.Mops = tmax[0], zeta, mops(p, tmax[0])
	return rep, nil
}
