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

// The manufactured solution on 8³, 16³ and 32³ must reproduce the table's
// exact discrete errors and second order on 1, 2 and 4 ranks, with the same
// iteration counts and errors to round-off on every decomposition.
func TestPoissonMatchesExactDiscreteErrorOnAnyRanks(t *testing.T) {
	cfg := config{sizes: []int{8, 16, 32}, tol: 1e-12}
	table, err := expectedTable()
	if err != nil {
		t.Fatal(err)
	}
	var ref *result
	for _, ranks := range []int{1, 2, 4} {
		out := make([]result, ranks)
		var mu sync.Mutex
		err := commtest.Run(ranks, func(c *comm.Comm) error {
			r, err := solve(c, cfg)
			mu.Lock()
			out[c.Rank()] = r
			mu.Unlock()
			return err
		})
		if err != nil {
			t.Fatalf("%d ranks: %v", ranks, err)
		}
		r := out[0]
		if len(r.failed) > 0 {
			t.Errorf("%d ranks: failed checks %q", ranks, r.failed)
		}
		for i, lv := range r.levels {
			want := table[lv.n]
			if d := math.Abs(lv.ratio - want.ratio); d > ratioTol {
				t.Errorf("%d ranks N=%d: u_h/u %.12f, table %.12f", ranks, lv.n, lv.ratio, want.ratio)
			}
			if d := math.Abs(lv.maxErr-want.maxErr) / want.maxErr; d > maxErrRel {
				t.Errorf("%d ranks N=%d: max error %.6e, table %.6e", ranks, lv.n, lv.maxErr, want.maxErr)
			}
			if i > 0 && (r.orders[i-1] < orderLo || r.orders[i-1] > orderHi) {
				t.Errorf("%d ranks N=%d: order %.4f", ranks, lv.n, r.orders[i-1])
			}
			if lv.iterations < lv.n {
				t.Errorf("%d ranks N=%d: %d CG iterations; the rough start should need more than N", ranks, lv.n, lv.iterations)
			}
		}
		for k := 1; k < ranks; k++ {
			if out[k].levels[2].maxErr != r.levels[2].maxErr {
				t.Errorf("%d ranks: rank %d reports a different error", ranks, k)
			}
		}
		if ref == nil {
			ref = &r
			continue
		}
		for i, lv := range r.levels {
			if lv.iterations != ref.levels[i].iterations || math.Abs(lv.maxErr-ref.levels[i].maxErr) > 1e-14 {
				t.Errorf("%d ranks N=%d: %d its, error %.15e; 1 rank: %d its, %.15e", ranks, lv.n,
					lv.iterations, lv.maxErr, ref.levels[i].iterations, ref.levels[i].maxErr)
			}
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-sizes", "4, 8", "-tol", "1e-10", "-out", "d"}, ""},
		{[]string{"-sizes", "8"}, "at least two grids"},
		{[]string{"-sizes", "8,7"}, `"7" is not an even`},
		{[]string{"-sizes", "16,8"}, "does not follow 16"},
		{[]string{"-sizes", "8,x"}, `"x"`},
		{[]string{"-sizes", "2,4"}, `"2"`},
		{[]string{"-tol", "0"}, "-tol 0"},
		{[]string{"-tol", "1e-3"}, "-tol 0.001"},
		{[]string{"-nope"}, "not defined"},
		{[]string{"more"}, `unexpected argument "more"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseConfig(tc.args, &bytes.Buffer{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(tc.args) == 0 && (len(cfg.sizes) != 4 || cfg.sizes[3] != 64 || cfg.tol != 1e-12) {
					t.Errorf("defaults %+v", cfg)
				}
				if len(tc.args) > 0 && (len(cfg.sizes) != 2 || cfg.sizes[1] != 8 || cfg.tol != 1e-10 || cfg.out != "d") {
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

func TestSolveRejectsGridsThatDoNotSplit(t *testing.T) {
	err := commtest.Run(3, func(c *comm.Comm) error {
		_, err := solve(c, config{sizes: []int{8, 16}, tol: 1e-10})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "do not split") {
		t.Errorf("got %v, want a split error", err)
	}
}

func TestExpectedTable(t *testing.T) {
	tab, err := expectedTable()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{8, 16, 32, 64, 128, 256} {
		e, ok := tab[n]
		if !ok {
			t.Fatalf("N=%d missing", n)
		}
		// ratio = 3π²/λ_h, λ_h = 3(4/h²) sin²(πh/2), independent of dimension.
		h := 1 / float64(n)
		ratio := math.Pi * math.Pi * h * h / (4 * math.Pow(math.Sin(math.Pi*h/2), 2))
		if math.Abs(ratio-e.ratio) > 1e-12 || math.Abs(e.maxErr-(ratio-1))/(ratio-1) > 1e-6 {
			t.Errorf("N=%d: table %+v, formula ratio %.12f", n, e, ratio)
		}
	}
}

func TestConvergencePlot(t *testing.T) {
	tab, err := expectedTable()
	if err != nil {
		t.Fatal(err)
	}
	res := result{ranks: 1, dims: [3]int{1, 1, 1}}
	for _, n := range []int{8, 16, 32} {
		e := tab[n]
		res.levels = append(res.levels, level{n: n, maxErr: e.maxErr, ratio: e.ratio})
		res.want = append(res.want, &e)
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := plotConvergence(path, res); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width < 300 {
		t.Errorf("png: %v %+v", err, cfg)
	}
}

// BenchmarkCG32 measures one 32³ solve on 1 and 4 in-process ranks.
func BenchmarkCG32(b *testing.B) {
	for _, ranks := range []int{1, 4} {
		b.Run(fmt.Sprintf("ranks=%d", ranks), func(b *testing.B) {
			for b.Loop() {
				err := commtest.Run(ranks, func(c *comm.Comm) error {
					_, err := solveLevel(c, 32, 1e-12)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
