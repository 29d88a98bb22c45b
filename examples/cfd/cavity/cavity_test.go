package main

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// runRanks solves cfg on n in-process ranks and returns every rank's result.
func runRanks(t *testing.T, n int, cfg config) []result {
	t.Helper()
	out := make([]result, n)
	var mu sync.Mutex
	err := commtest.Run(n, func(c *comm.Comm) error {
		r, err := solve(c, cfg)
		mu.Lock()
		out[c.Rank()] = r
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("%d ranks: %v", n, err)
	}
	return out
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// On a 33×33 grid at Re 100 the centrelines lie within 0.0089 of Ghia's
// 129×129 values (measured); the bound leaves a little room. Every rank
// count must give the same field: the algorithm is decomposition
// independent, so only round-off may differ.
const (
	coarseGhiaBound = 0.010
	rankAgreement   = 1e-12
)

func TestCavityRe100CoarseMatchesGhiaOnAnyRanks(t *testing.T) {
	cfg := config{re: 100, n: 33, tol: 1e-5, maxSteps: 5000, cfl: 2, quiet: true}
	var ref *result
	for _, ranks := range []int{1, 2, 4} {
		rs := runRanks(t, ranks, cfg)
		r := rs[0]
		if !r.converged {
			t.Fatalf("%d ranks: not converged after %d steps (residual %.2e)", ranks, r.steps, r.residual)
		}
		c, ok, err := compareGhia(&r)
		if err != nil || !ok {
			t.Fatalf("%d ranks: compare: ok=%v err=%v", ranks, ok, err)
		}
		if c.max > coarseGhiaBound || c.u.points != 15 || c.v.points != 15 {
			t.Errorf("%d ranks: max deviation %.4f (bound %.3f) over %d+%d points", ranks, c.max, coarseGhiaBound, c.u.points, c.v.points)
		}
		for k := 1; k < ranks; k++ {
			if d := maxDiff(rs[k].psi, r.psi); d != 0 {
				t.Errorf("%d ranks: rank %d's assembled ψ differs from rank 0's by %g", ranks, k, d)
			}
		}
		if ref == nil {
			ref = &r
			continue
		}
		if r.steps != ref.steps {
			t.Errorf("%d ranks: %d steps, 1 rank took %d", ranks, r.steps, ref.steps)
		}
		for _, f := range []struct {
			name string
			a, b []float64
		}{{"ψ", r.psi, ref.psi}, {"ω", r.omega, ref.omega}, {"u", r.u, ref.u}, {"v", r.v, ref.v}} {
			if d := maxDiff(f.a, f.b); d > rankAgreement {
				t.Errorf("%d ranks: %s differs from 1 rank by %g > %g", ranks, f.name, d, rankAgreement)
			}
		}
	}
}

// A V-cycle must reduce the error of the discrete Poisson problem by a
// grid-independent factor, and give identical iterates on 1 and 4 ranks.
func TestMultigridConvergesIndependentOfRanks(t *testing.T) {
	for _, n := range []int{32, 64} {
		var iterates [][]float64
		for _, ranks := range []int{1, 4} {
			var mu sync.Mutex
			err := commtest.Run(ranks, func(c *comm.Comm) error {
				p, err := newPar(c)
				if err != nil {
					return err
				}
				g, err := newGrid(n, p.px, p.py, p.cx, p.cy)
				if err != nil {
					return err
				}
				mg := newMultigrid(p, g, true)
				u, f := make([]float64, g.size()), make([]float64, g.size())
				for k := g.jl; k <= g.jh; k++ {
					for l := g.il; l <= g.ih; l++ {
						x, y := float64(g.ax+l)*g.h, float64(g.ay+k)*g.h
						f[g.at(l, k)] = 2 * math.Pi * math.Pi * math.Sin(math.Pi*x) * math.Sin(math.Pi*y)
					}
				}
				// The grid function sin πx sin πy is an eigenvector of L
				// with eigenvalue λ = 8 sin²(πh/2)/h², so u = f/λ exactly.
				lam := 8 * math.Pow(math.Sin(math.Pi*g.h/2), 2) / (g.h * g.h)
				errMax := func() float64 {
					e := 0.0
					forUpdate(g, func(i int) { e = math.Max(e, math.Abs(u[i]-f[i]/lam)) })
					return e
				}
				prev := 0.0
				for cyc := 0; cyc < 8; cyc++ {
					if err := mg.vcycle(u, f); err != nil {
						return err
					}
					buf := []float64{errMax()}
					if err := p.max(buf); err != nil {
						return err
					}
					if cyc > 0 && buf[0] > 0.2*prev && buf[0] > 1e-13 {
						t.Errorf("n=%d ranks=%d cycle %d: error %.3e after %.3e, factor above 0.2", n, ranks, cyc, buf[0], prev)
					}
					prev = buf[0]
				}
				if prev > 1e-9 {
					t.Errorf("n=%d ranks=%d: error %.3e after 8 V-cycles", n, ranks, prev)
				}
				glob, err := assemble(p, g, u)
				if err == nil && c.Rank() == 0 {
					mu.Lock()
					iterates = append(iterates, glob)
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if d := maxDiff(iterates[0], iterates[1]); d != 0 {
			t.Errorf("n=%d: 1- and 4-rank iterates differ by %g", n, d)
		}
	}
}

func TestSolveRejectsGridsThatDoNotSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ranks int
		n     int
		want  string
	}{
		{"uneven split", 3, 33, "does not split evenly"},
		{"too small per rank", 4, 3, "too small"},
		{"coarse grid too big", 1, 127, "coarsen only to 63"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := commtest.Run(tc.ranks, func(c *comm.Comm) error {
				_, err := solve(c, config{re: 100, n: tc.n, tol: 1e-5, maxSteps: 10, cfl: 2, quiet: true})
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // error substring; "" for success
	}{
		{nil, ""},
		{[]string{"-re", "400", "-n", "65", "-tol", "1e-6", "-max-steps", "10", "-out", "x"}, ""},
		{[]string{"-re", "0"}, "-re 0"},
		{[]string{"-re", "-5"}, "must be positive"},
		{[]string{"-n", "64"}, "-n 64"},
		{[]string{"-n", "3"}, "at least 5 nodes"},
		{[]string{"-tol", "0"}, "-tol 0"},
		{[]string{"-max-steps", "0"}, "-max-steps 0"},
		{[]string{"-cfl", "3"}, "-cfl 3"},
		{[]string{"-re", "abc"}, "invalid value"},
		{[]string{"-bogus"}, "not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseConfig(tc.args, &stderr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if len(tc.args) == 0 && (cfg.re != 100 || cfg.n != 129 || cfg.tol != 1e-5 || cfg.out != "") {
					t.Errorf("defaults %+v", cfg)
				}
				if len(tc.args) > 0 && (cfg.re != 400 || cfg.n != 65 || cfg.tol != 1e-6 || cfg.maxSteps != 10 || cfg.out != "x") {
					t.Errorf("parsed %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestGhiaTables(t *testing.T) {
	for _, tc := range []struct {
		text, comp string
		re         float64
		ok         bool
		first      float64 // value at the first interior point
	}{
		{ghiaU, "u", 100, true, -0.03717},
		{ghiaU, "u", 1000, true, -0.18109},
		{ghiaV, "v", 400, true, 0.18360},
		{ghiaV, "v", 3200, true, 0.39560},
		{ghiaU, "u", 500, false, 0},
		{ghiaU, "u", 100.5, false, 0},
	} {
		pts, ok, err := ghiaTable(tc.text, tc.comp, tc.re)
		if err != nil || ok != tc.ok {
			t.Errorf("%s Re %g: ok=%v err=%v", tc.comp, tc.re, ok, err)
			continue
		}
		if ok && (len(pts) != 17 || pts[1].val != tc.first || pts[0].node != 1 || pts[16].node != 129) {
			t.Errorf("%s Re %g: %d points, second %+v", tc.comp, tc.re, len(pts), pts[1])
		}
	}
	if !isMisprint("v", 400, 117) || isMisprint("v", 100, 117) {
		t.Error("misprint table")
	}
	if _, _, err := ghiaTable("j,y,u_Re100\n1,0,x\n", "u", 100); err == nil {
		t.Error("bad number accepted")
	}
}

func TestInterpIsExactForCubics(t *testing.T) {
	f := make([]float64, 17)
	cubic := func(x float64) float64 { return 1 - 2*x + 3*x*x - 4*x*x*x }
	for j := range f {
		f[j] = cubic(float64(j) / 16)
	}
	for _, x := range []float64{0, 0.01, 0.0547, 0.5, 0.77, 0.9766, 1} {
		if d := math.Abs(interp(f, x) - cubic(x)); d > 1e-13 {
			t.Errorf("x=%g: off by %g", x, d)
		}
	}
}

func TestOutputsAreWritten(t *testing.T) {
	rs := runRanks(t, 1, config{re: 100, n: 17, tol: 1e-4, maxSteps: 3000, cfl: 2, quiet: true})
	r := rs[0]
	dir := t.TempDir()
	var out bytes.Buffer
	if err := report(r, config{tol: 1e-4, maxSteps: 3000, out: dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "both: max") {
		t.Errorf("report lacks the deviation line:\n%s", out.String())
	}
	vtk, err := os.ReadFile(filepath.Join(dir, "cavity.vtk"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(vtk, []byte("# vtk DataFile Version 3.0\n")) || !bytes.Contains(vtk, []byte("DIMENSIONS 17 17 1")) ||
		bytes.Count(vtk, []byte("\n")) != 8+2*(2+17*17)+1+17*17 {
		t.Errorf("unexpected VTK file (%d lines)", bytes.Count(vtk, []byte("\n")))
	}
	for _, name := range []string{"cavity_velocity.png", "cavity_profiles.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 400 || cfg.Height < 400 {
			t.Errorf("%s: %v, %dx%d", name, err, cfg.Width, cfg.Height)
		}
	}
}

func FuzzGhiaTable(f *testing.F) {
	f.Add(ghiaU, 100.0)
	f.Add(ghiaV, 400.0)
	f.Add("j,y,u_Re100\n1,0.0,0.5\n", 100.0)
	f.Fuzz(func(t *testing.T, text string, re float64) {
		pts, ok, err := ghiaTable(text, "u", re)
		if err == nil && ok && len(pts) == 0 {
			t.Error("ok with no points")
		}
	})
}

// BenchmarkSteps measures 100 pseudo-time steps on 129×129 (one op), on 1
// and 4 in-process ranks: compute against message rounds.
func BenchmarkSteps(b *testing.B) {
	for _, ranks := range []int{1, 4} {
		b.Run(fmt.Sprintf("ranks=%d", ranks), func(b *testing.B) {
			for b.Loop() {
				err := commtest.Run(ranks, func(c *comm.Comm) error {
					_, err := solve(c, config{re: 100, n: 129, tol: 1e-12, maxSteps: 100, cfl: 2, quiet: true})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
