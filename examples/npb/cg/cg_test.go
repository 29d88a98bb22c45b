package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npbtest"
)

// runCG runs class on n in-process ranks and returns every rank's report.
func runCG(t *testing.T, class string, n int) []npb.Report {
	t.Helper()
	p, err := npb.CG(class)
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

func TestVerified(t *testing.T) {
	cases := []struct {
		class string
		ranks int
	}{
		{"S", 1}, {"S", 2}, {"S", 4}, {"S", 8}, {"W", 2},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.class, tc.ranks), func(t *testing.T) {
			reps := runCG(t, tc.class, tc.ranks)
			for r, rep := range reps {
				if !rep.Verified() {
					t.Errorf("rank %d: zeta %.13f, reference %.13f, relative error %.2e > %.0e",
						r, rep.Value, rep.Reference, rep.RelErr(), rep.Epsilon)
				}
				if rep.Value != reps[0].Value {
					t.Errorf("rank %d zeta %.16g differs from rank 0's %.16g", r, rep.Value, reps[0].Value)
				}
				if rep.Ranks != tc.ranks || rep.Iterations != 15 {
					t.Errorf("rank %d report: %d ranks, %d iterations; want %d, 15", r, rep.Ranks, rep.Iterations, tc.ranks)
				}
			}
		})
	}
}

func TestProcGrid(t *testing.T) {
	cases := []struct{ np, rows, cols int }{
		{1, 1, 1}, {2, 1, 2}, {4, 2, 2}, {8, 2, 4}, {16, 4, 4}, {32, 4, 8},
	}
	for _, tc := range cases {
		r, c, err := procGrid(tc.np)
		if err != nil || r != tc.rows || c != tc.cols {
			t.Errorf("procGrid(%d) = %d x %d, %v; want %d x %d", tc.np, r, c, err, tc.rows, tc.cols)
		}
	}
}

func TestBadRankCount(t *testing.T) {
	p, err := npb.CG("S")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 6} {
		err := commtest.Run(n, func(c *comm.Comm) error {
			_, err := Run(c, p, nil)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "power-of-two number of ranks") {
			t.Errorf("%d ranks: error %v, want one about a power-of-two number of ranks", n, err)
		}
	}
}

func TestFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr string
		na      int
	}{
		{nil, "", 1400},
		{[]string{"-class", "A"}, "", 14000},
		{[]string{"-class", "B"}, "", 75000},
		{[]string{"-class", "X"}, `unknown class "X": want one of S, W, A, B`, 0},
		{[]string{"-class", "C"}, `unknown class "C"`, 0},
		{[]string{"-size", "3"}, "flag provided but not defined: -size", 0},
		{[]string{"extra"}, `unexpected argument "extra"`, 0},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		p, err := parseFlags(tc.args, &stderr)
		if tc.wantErr == "" {
			if err != nil || p.NA != tc.na {
				t.Errorf("%v: na %d, %v; want %d", tc.args, p.NA, err, tc.na)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestRunExitStatus runs the command's body as a singleton (no launcher):
// class S verifies and exits 0; a bad class exits 2 naming the classes.
func TestRunExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-class", "S"}, &out, &errb); code != 0 {
		t.Fatalf("class S exit %d, stderr %s", code, errb.String())
	}
	for _, want := range []string{"VERIFICATION SUCCESSFUL", "Class           =                        S", "Mop/s total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"-class", "Q"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown class "Q"`) {
		t.Errorf("class Q: exit %d, stderr %q", code, errb.String())
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
		{"3", 2, "power-of-two number of ranks (NPB's 2-D process grid), not 3"},
	}
	for _, tc := range cases {
		out, status := npbtest.Run(t, "../../..", 3*time.Minute, "-n", tc.ranks, "--oversubscribe", "--timeout", "150s",
			"--param", "tcp_iface=lo", ".", "-class", "S")
		if status != tc.status || !strings.Contains(out, tc.want) {
			t.Errorf("-n %s: exit %d, want %d with %q; output:\n%s", tc.ranks, status, tc.status, tc.want, out)
		}
	}
}
