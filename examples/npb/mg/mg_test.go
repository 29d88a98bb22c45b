package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npbtest"
)

func runMG(t *testing.T, class string, n int) []npb.Report {
	t.Helper()
	p, err := npb.MG(class)
	if err != nil {
		t.Fatal(err)
	}
	reps := make([]npb.Report, n)
	err = commtest.Run(n, func(c *comm.Comm) error {
		rep, err := Run(c, p, nil)
		reps[c.Rank()] = rep
		return err
	})
	if err != nil {
		t.Fatalf("class %s on %d ranks: %v", class, n, err)
	}
	return reps
}

// TestVerified runs class S on 1 to 16 ranks (16 ranks make a 2×2×4
// process grid, wider than the 2³ coarsest grid, so the coarse levels are
// gathered) and class W on 2.
func TestVerified(t *testing.T) {
	cases := []struct {
		class string
		ranks int
	}{
		{"S", 1}, {"S", 2}, {"S", 4}, {"S", 8}, {"S", 16}, {"W", 2},
	}
	var first float64
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.class, tc.ranks), func(t *testing.T) {
			reps := runMG(t, tc.class, tc.ranks)
			for r, rep := range reps {
				if !rep.Verified() {
					t.Errorf("rank %d: rnm2 %.13e, reference %.13e, relative error %.2e > %.0e",
						r, rep.Value, rep.Reference, rep.RelErr(), rep.Epsilon)
				}
				if rep.Value != reps[0].Value {
					t.Errorf("rank %d rnm2 %.16g differs from rank 0's %.16g", r, rep.Value, reps[0].Value)
				}
			}
			// The stencils are computed point by point in the same order on
			// any decomposition; only the norm's sum is reordered.
			if tc.class == "S" {
				if tc.ranks == 1 {
					first = reps[0].Value
				} else if d := reps[0].Value/first - 1; d > 1e-13 || d < -1e-13 {
					t.Errorf("rnm2 %.16g on %d ranks, %.16g on 1: relative difference %.1e", reps[0].Value, tc.ranks, first, d)
				}
			}
		})
	}
}

func TestProcDims(t *testing.T) {
	cases := []struct {
		np, n   int
		want    []int
		wantErr string
	}{
		{1, 32, []int{1, 1, 1}, ""},
		{2, 32, []int{2, 1, 1}, ""},
		{4, 32, []int{2, 2, 1}, ""},
		{16, 32, []int{4, 2, 2}, ""},
		{4096, 32, []int{16, 16, 16}, ""},
		{8192, 32, nil, "cannot use 8192 ranks"},
		{3, 32, nil, "power-of-two number of ranks, not 3"},
		{12, 256, nil, "power-of-two number of ranks, not 12"},
	}
	for _, tc := range cases {
		got, err := procDims(tc.np, tc.n)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("procDims(%d, %d) error %v, want %q", tc.np, tc.n, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("procDims(%d, %d) = %v, %v; want %v", tc.np, tc.n, got, err, tc.want)
		}
	}
}

func TestBadRankCount(t *testing.T) {
	p, err := npb.MG("S")
	if err != nil {
		t.Fatal(err)
	}
	err = commtest.Run(3, func(c *comm.Comm) error {
		_, err := Run(c, p, nil)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "power-of-two number of ranks, not 3") {
		t.Errorf("3 ranks: error %v, want one about a power-of-two number of ranks", err)
	}
}

// TestZran3 checks the right-hand side: ten +1 and ten −1 charges, the
// same points on 1 and 4 ranks.
func TestZran3(t *testing.T) {
	p, err := npb.MG("S")
	if err != nil {
		t.Fatal(err)
	}
	charges := func(n int) map[int]float64 {
		got := make([]map[int]float64, n)
		err := commtest.Run(n, func(c *comm.Comm) error {
			s, err := newSolver(c, p)
			if err != nil {
				return err
			}
			if err := s.zran3(); err != nil {
				return err
			}
			l := s.lv[s.lt]
			m := map[int]float64{}
			for i3 := 1; i3 <= l.m[2]; i3++ {
				for i2 := 1; i2 <= l.m[1]; i2++ {
					for i1 := 1; i1 <= l.m[0]; i1++ {
						if v := s.v[l.idx(i1, i2, i3)]; v != 0 {
							g := l.off[0] + i1 - 1 + p.N*(l.off[1]+i2-1+p.N*(l.off[2]+i3-1))
							m[g] = v
						}
					}
				}
			}
			got[c.Rank()] = m
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		all := map[int]float64{}
		for _, m := range got {
			for k, v := range m {
				all[k] = v
			}
		}
		return all
	}
	one, four := charges(1), charges(4)
	plus, minus := 0, 0
	for _, v := range one {
		switch v {
		case 1:
			plus++
		case -1:
			minus++
		default:
			t.Errorf("charge %g, want ±1", v)
		}
	}
	if plus != nCharges || minus != nCharges {
		t.Errorf("%d +1 and %d −1 charges, want %d each", plus, minus, nCharges)
	}
	if len(four) != len(one) {
		t.Fatalf("4 ranks place %d charges, 1 rank %d", len(four), len(one))
	}
	for k, v := range one {
		if four[k] != v {
			t.Errorf("point %d: %g on 1 rank, %g on 4", k, v, four[k])
		}
	}
}

func TestFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr string
		n, nit  int
	}{
		{nil, "", 32, 4},
		{[]string{"-class", "W"}, "", 128, 4},
		{[]string{"-class", "A"}, "", 256, 4},
		{[]string{"-class", "B"}, "", 256, 20},
		{[]string{"-class", "s"}, `unknown class "s": want one of S, W, A, B`, 0, 0},
		{[]string{"-class", "D"}, `unknown class "D"`, 0, 0},
		{[]string{"-n", "3"}, "flag provided but not defined: -n", 0, 0},
		{[]string{"A"}, `unexpected argument "A"`, 0, 0},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		p, err := parseFlags(tc.args, &stderr)
		if tc.wantErr == "" {
			if err != nil || p.N != tc.n || p.Nit != tc.nit {
				t.Errorf("%v: n %d nit %d, %v; want %d, %d", tc.args, p.N, p.Nit, err, tc.n, tc.nit)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

func TestSmoother(t *testing.T) {
	for _, tc := range []struct {
		class string
		c0    float64
	}{{"S", -3.0 / 8}, {"W", -3.0 / 8}, {"A", -3.0 / 8}, {"B", -3.0 / 17}} {
		if got := smoother(tc.class)[0]; got != tc.c0 {
			t.Errorf("class %s: c[0] = %g, want %g", tc.class, got, tc.c0)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-class", "S"}, &out, &errb); code != 0 {
		t.Fatalf("class S exit %d, stderr %s", code, errb.String())
	}
	for _, want := range []string{"VERIFICATION SUCCESSFUL", "Size            =                 32x32x32", "Mop/s total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	errb.Reset()
	if code := run([]string{"-class", "Z"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown class "Z"`) {
		t.Errorf("class Z: exit %d, stderr %q", code, errb.String())
	}
}

// BenchmarkVCycle times one V-cycle plus residual of class W on b.N... ranks
// given by the sub-benchmark name; the figure is the 58·n³ NPB count per
// second.
func BenchmarkVCycle(b *testing.B) {
	p, err := npb.MG("W")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("W/%d", n), func(b *testing.B) {
			err := commtest.Run(n, func(c *comm.Comm) error {
				s, err := newSolver(c, p)
				if err != nil {
					return err
				}
				if err := s.zran3(); err != nil {
					return err
				}
				top := s.lv[s.lt]
				if c.Rank() == 0 {
					b.ResetTimer()
				}
				for i := 0; i < b.N; i++ {
					if err := s.mg3P(); err != nil {
						return err
					}
					if err := top.resid(s.u[s.lt], s.v, s.r[s.lt], s.w[0], s.w[1]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(58*float64(p.N*p.N*p.N)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mop/s")
		})
	}
}

// TestLaunched runs the command as real processes under mpx run: class S
// verifies on 2 and 4 ranks and exits 0; 3 ranks are refused with status 2.
func TestLaunched(t *testing.T) {
	cases := []struct {
		ranks  string
		status int
		want   string
	}{
		{"2", 0, "VERIFICATION SUCCESSFUL"},
		{"4", 0, "Total processes =                        4"},
		{"3", 2, "power-of-two number of ranks, not 3"},
	}
	for _, tc := range cases {
		out, status := npbtest.Run(t, "../../..", 3*time.Minute, "-n", tc.ranks, "--oversubscribe", "--timeout", "150s",
			"--param", "tcp_iface=lo", ".", "-class", "S")
		if status != tc.status || !strings.Contains(out, tc.want) {
			t.Errorf("-n %s: exit %d, want %d with %q; output:\n%s", tc.ranks, status, tc.status, tc.want, out)
		}
	}
}
