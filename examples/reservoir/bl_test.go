package main

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// readCSV reads a reference CSV (copied from ../shared/verif with its
// header comments): # lines skipped, the first other line is the header.
func readCSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var head []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		if head == nil {
			head = fields
			continue
		}
		if len(fields) != len(head) {
			t.Fatalf("%s: row %q has %d fields, header %d", name, line, len(fields), len(head))
		}
		row := map[string]string{}
		for i, h := range head {
			row[h] = fields[i]
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

func num(t *testing.T, row map[string]string, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[key], 64)
	if err != nil {
		t.Fatalf("column %s: %v", key, err)
	}
	return v
}

// caseA is the fluid of buckley_leverett_caseA.csv.
func caseA(t *testing.T) (fluid, map[string]string) {
	t.Helper()
	row := readCSV(t, "testdata/buckley_leverett_caseA.csv")[0]
	f := fluid{
		MuW: num(t, row, "mu_disp") * centiPoise, MuO: num(t, row, "mu_res") * centiPoise,
		NW: num(t, row, "n_disp"), NO: num(t, row, "n_res"),
		Swc: num(t, row, "Swc"), Sor: num(t, row, "Sor"), KrwMax: 1, KroMax: 1,
	}
	return f, row
}

func TestWelgeMatchesReference(t *testing.T) {
	f, row := caseA(t)
	w, err := newWelge(&f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  float64
	}{
		{"S_shock", w.Shock},
		{"f_at_shock", w.FShock},
		{"front_speed_dxD_dtD", w.Speed},
		{"tD_breakthrough", w.TBreak},
		{"avgS_behind_front", w.AvgS},
	} {
		if want := num(t, row, c.name); math.Abs(c.got-want) > 2e-6 {
			t.Errorf("%s = %.7f, reference %.6f", c.name, c.got, want)
		}
	}
	// The analytic profile at every reference point (the jump rows are
	// compared from the upstream side).
	for _, r := range readCSV(t, "testdata/buckley_leverett_caseA_profiles.csv") {
		tD, x, s := num(t, r, "t_D"), num(t, r, "x_D"), num(t, r, "S")
		if s == f.Swc {
			if d := math.Abs(w.front(tD) - x); d > 2e-6 {
				t.Errorf("front at t_D %.2f: %.6f, reference %.6f", tD, w.front(tD), x)
			}
			continue
		}
		// The file rounds x_D to 6 digits: stay upstream of the front.
		if got := w.sat(min(x, w.front(tD)*(1-1e-9)), tD); math.Abs(got-s) > 1e-5 {
			t.Errorf("S(x_D %.6f, t_D %.2f) = %.6f, reference %.6f", x, tD, got, s)
		}
	}
}

func TestWelgeOtherFluids(t *testing.T) {
	// The closed form for quadratic Corey curves without residuals:
	// Se* = 1/sqrt(1 + µo/µw), with Swc and Sor stretching S.
	for _, c := range []struct{ muw, muo, swc, sor float64 }{
		{1, 1, 0, 0}, {1, 5, 0, 0}, {1, 0.5, 0.2, 0.1}, {0.5, 10, 0.1, 0.2},
	} {
		f := fluid{MuW: c.muw, MuO: c.muo, NW: 2, NO: 2, Swc: c.swc, Sor: c.sor, KrwMax: 1, KroMax: 1}
		w, err := newWelge(&f)
		if err != nil {
			t.Fatal(err)
		}
		se := 1 / math.Sqrt(1+c.muo/c.muw)
		if want := c.swc + se*(1-c.swc-c.sor); math.Abs(w.Shock-want) > 1e-7 {
			t.Errorf("%+v: shock %.8f, closed form %.8f", c, w.Shock, want)
		}
	}
	// Linear curves with water more viscous: f convex, piston-like front.
	f := fluid{MuW: 2, MuO: 1, NW: 1, NO: 1, KrwMax: 1, KroMax: 1}
	if w, err := newWelge(&f); err != nil || w.Shock != 1 || math.Abs(w.Speed-1) > 1e-12 {
		t.Errorf("piston-like: %+v %v, want shock 1 speed 1", w, err)
	}
}

// blConfig is the bl case on a fine 1-D grid with the given fluid.
func blConfig(t *testing.T, f fluid, nx int, pvi float64) config {
	t.Helper()
	cfg, err := caseConfig("bl")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NX, cfg.Fluid, cfg.Sinit, cfg.PVI = nx, f, f.Swc, pvi
	cfg.Snaps, cfg.Out = nil, ""
	cfg.defaultWells(0)
	return cfg
}

// runRanks runs cfg on n in-process ranks and returns rank 0's result.
func runRanks(t *testing.T, n int, cfg config) *result {
	t.Helper()
	var res *result
	err := commtest.Run(n, func(c *comm.Comm) error {
		r, err := simulate(c, cfg)
		if c.Rank() == 0 {
			res = r
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// refProfile interpolates the reference profile at t_D: rarefaction
// points, then Swc beyond the jump.
func refProfile(t *testing.T, tD float64) func(x float64) float64 {
	var xs, ss []float64
	for _, r := range readCSV(t, "testdata/buckley_leverett_caseA_profiles.csv") {
		if num(t, r, "t_D") == tD {
			xs, ss = append(xs, num(t, r, "x_D")), append(ss, num(t, r, "S"))
		}
	}
	if len(xs) < 3 {
		t.Fatalf("no reference profile at t_D %g", tD)
	}
	front, swc := xs[len(xs)-1], ss[len(ss)-1]
	return func(x float64) float64 {
		if x >= front {
			return swc
		}
		for i := 1; i < len(xs)-1; i++ {
			if x <= xs[i] {
				a := (x - xs[i-1]) / (xs[i] - xs[i-1])
				return ss[i-1] + a*(ss[i]-ss[i-1])
			}
		}
		return ss[len(ss)-2]
	}
}

// Case A of the shared reference: front within 2% of the reference and
// profile L1 error below 0.006 on 400 cells at t_D 0.4, on one and on four ranks;
// water mass balance at round-off on every step.
func TestBuckleyLeverettCaseA(t *testing.T) {
	const tD = 0.4
	f, _ := caseA(t)
	ref := refProfile(t, tD)
	var refFront float64
	for _, r := range readCSV(t, "testdata/buckley_leverett_caseA_profiles.csv") {
		if num(t, r, "t_D") == tD && num(t, r, "S") == f.Swc {
			refFront = num(t, r, "x_D")
		}
	}
	var first []float64
	for _, ranks := range []int{1, 4} {
		t.Run(strconv.Itoa(ranks)+"ranks", func(t *testing.T) {
			res := runRanks(t, ranks, blConfig(t, f, 400, tD))
			if res.Procs != [3]int{ranks, 1, 1} {
				t.Errorf("process grid %v", res.Procs)
			}
			if math.Abs(res.TD-tD) > 1e-12 {
				t.Errorf("stopped at t_D %.15f", res.TD)
			}
			e := math.Abs(res.BL.FrontSim-refFront) / refFront
			if !(e < 0.02) {
				t.Errorf("front at x_D %.4f, reference %.4f: error %.2f%% (bound 2%%)", res.BL.FrontSim, refFront, 100*e)
			}
			l1 := 0.0
			for _, p := range res.Profile {
				l1 += math.Abs(p.S-ref(p.XD)) / float64(len(res.Profile))
			}
			if !(l1 < 0.006) || math.Abs(l1-res.BL.L1) > 1e-4 {
				t.Errorf("profile L1 error %.5f against the reference file, %.5f against own Welge; bound 0.006", l1, res.BL.L1)
			}
			t.Logf("front error %.2f%%, profile L1 error %.4f, mass balance %.2g", 100*e, l1, res.MaxMassErr)
			if !(math.Abs(res.BL.ShockSim-res.BL.Shock) < 0.05) {
				t.Errorf("saturation behind the front %.4f, Welge %.4f", res.BL.ShockSim, res.BL.Shock)
			}
			if !(res.MaxMassErr < 1e-12) {
				t.Errorf("water mass balance error %.3g per step, want round-off", res.MaxMassErr)
			}
			if first == nil {
				first = res.Sat
			} else {
				worst := 0.0
				for i := range first {
					worst = max(worst, math.Abs(first[i]-res.Sat[i]))
				}
				if !(worst < 1e-6) {
					t.Errorf("saturation differs by %.3g between 1 and %d ranks (tolerance 1e-6)", worst, ranks)
				}
				t.Logf("largest saturation difference to 1 rank %.2g", worst)
			}
		})
	}
}

// Other viscosity ratios, Corey exponents and residuals, against the
// example's own Welge solution, through two ranks.
func TestBuckleyLeverettOtherFluids(t *testing.T) {
	for _, c := range []struct {
		name string
		f    fluid
		pvi  float64
	}{
		{"viscous oil", fluid{MuW: 1 * centiPoise, MuO: 5 * centiPoise, NW: 2, NO: 2, KrwMax: 1, KroMax: 1}, 0.4},
		{"Corey 3 and 1.5 with residuals", fluid{MuW: 0.5 * centiPoise, MuO: 2 * centiPoise, NW: 3, NO: 1.5, Swc: 0.2, Sor: 0.15, KrwMax: 0.6, KroMax: 0.9}, 0.3},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runRanks(t, 2, blConfig(t, c.f, 200, c.pvi))
			b := res.BL
			if e := math.Abs(b.FrontSim-b.Front) / b.Front; !(e < 0.02) {
				t.Errorf("front %.4f, Welge %.4f: error %.2f%%", b.FrontSim, b.Front, 100*e)
			}
			if !(b.L1 < 0.01) {
				t.Errorf("profile L1 error %.5f, bound 0.01", b.L1)
			}
			if !(res.MaxMassErr < 1e-12) {
				t.Errorf("mass balance %.3g", res.MaxMassErr)
			}
		})
	}
}
