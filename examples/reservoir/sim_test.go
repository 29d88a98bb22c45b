package main

import (
	"bufio"
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// hetero3D is a small heterogeneous 3-D quarter five-spot.
func hetero3D(t *testing.T) config {
	t.Helper()
	cfg, err := caseConfig("free")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NX, cfg.NY, cfg.NZ = 8, 8, 2
	cfg.Fluid.MuO, cfg.Fluid.NO, cfg.Fluid.Swc, cfg.Fluid.Sor = 3*centiPoise, 3, 0.1, 0.1
	cfg.Sinit = cfg.Fluid.Swc
	cfg.PermSigma, cfg.CorrLen = 1.5, [3]float64{3, 3, 1}
	cfg.PVI, cfg.Snaps, cfg.Out = 0.2, nil, ""
	cfg.defaultWells(0)
	return cfg
}

// A heterogeneous 3-D case gives the same answer on 1 rank, 2 ranks and 4
// ranks split two ways (2×2×1 chosen, 1×2×2 asked), within 1e-6 in
// saturation (the pressure solves stop at 1e-8 of the injection rate).
func TestHeterogeneous3DRanks(t *testing.T) {
	base := hetero3D(t)
	one := runRanks(t, 1, base)
	if !(one.MaxMassErr < 1e-12) {
		t.Errorf("mass balance %.3g per step, want round-off", one.MaxMassErr)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range one.Sat {
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo < base.Fluid.Swc-1e-12 || hi > 1-base.Fluid.Sor+1e-12 || hi < 0.5 {
		t.Errorf("saturations span [%g, %g]: outside [swc, 1-sor] or no flood", lo, hi)
	}
	for _, c := range []struct {
		ranks       int
		procs, want [3]int
	}{
		{2, [3]int{}, [3]int{1, 2, 1}},
		{4, [3]int{}, [3]int{2, 2, 1}},
		{4, [3]int{1, 2, 2}, [3]int{1, 2, 2}},
	} {
		t.Run(fmt.Sprint(c.want), func(t *testing.T) {
			cfg := base
			cfg.Procs = c.procs
			four := runRanks(t, c.ranks, cfg)
			if four.Procs != c.want {
				t.Fatalf("process grid %v, want %v", four.Procs, c.want)
			}
			if four.Steps != one.Steps {
				t.Errorf("%d steps on %d ranks, %d on 1", four.Steps, c.ranks, one.Steps)
			}
			worst := 0.0
			for i := range one.Sat {
				worst = max(worst, math.Abs(one.Sat[i]-four.Sat[i]))
			}
			if !(worst < 1e-6) {
				t.Errorf("saturation differs by %.3g between 1 and %d ranks (tolerance 1e-6)", worst, c.ranks)
			}
			t.Logf("%d ranks as %v: largest saturation difference to 1 rank %.2g", c.ranks, c.want, worst)
			for i := range one.WaterCut {
				if d := math.Abs(one.WaterCut[i].WC - four.WaterCut[i].WC); d > 1e-6 {
					t.Fatalf("water cut at step %d: %.9f vs %.9f", i, one.WaterCut[i].WC, four.WaterCut[i].WC)
				}
			}
			if !(four.MaxMassErr < 1e-12) {
				t.Errorf("mass balance %.3g per step on %d ranks", four.MaxMassErr, c.ranks)
			}
		})
	}
}

// The quarter five-spot breaks through before the 1-D displacement does
// (areal sweep below one) and its water cut rises monotonically after.
func TestFivespotBreakthrough(t *testing.T) {
	cfg, err := caseConfig("fivespot")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NX, cfg.NY, cfg.PVI, cfg.Snaps, cfg.Out, cfg.Sinit = 12, 12, 0.9, nil, "", 0
	cfg.defaultWells(0)
	res := runRanks(t, 2, cfg)
	w, err := newWelge(&cfg.Fluid)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.Breakthrough > 0.4 && res.Breakthrough < w.TBreak) {
		t.Errorf("breakthrough at %.4f PVI, want between 0.4 and the 1-D value %.4f", res.Breakthrough, w.TBreak)
	}
	last := res.WaterCut[len(res.WaterCut)-1]
	if !(last.WC > 0.5 && last.WC < 1) {
		t.Errorf("water cut %.4f at %.2f PVI", last.WC, last.TD)
	}
	for i := 1; i < len(res.WaterCut); i++ {
		if res.WaterCut[i].WC < res.WaterCut[i-1].WC-1e-9 {
			t.Fatalf("water cut falls from %.6f to %.6f at %.4f PVI", res.WaterCut[i-1].WC, res.WaterCut[i].WC, res.WaterCut[i].TD)
		}
	}
}

func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	cfg := hetero3D(t)
	cfg.NX, cfg.NY, cfg.PVI, cfg.Snaps = 8, 8, 0.1, []float64{0.05, 0.1}
	cfg.Out, cfg.VTK, cfg.Profile, cfg.Case = dir, true, filepath.Join(dir, "profile.csv"), "fivespot"
	cfg.defaultWells(0)
	res := runRanks(t, 2, cfg)
	want := []string{"saturation_000_pvi0.050.png", "reservoir_0.vtk", "saturation_001_pvi0.100.png", "reservoir_1.vtk", "profile.csv", "watercut.png"}
	if len(res.Files) != len(want) {
		t.Fatalf("files %v, want %v", res.Files, want)
	}
	for i, f := range res.Files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d: %s, want %s", i, f, want[i])
		}
		if strings.HasSuffix(f, ".png") {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			im, err := png.DecodeConfig(fh)
			fh.Close()
			if err != nil || im.Width < 200 || im.Height < 100 {
				t.Errorf("%s: %v, %dx%d", f, err, im.Width, im.Height)
			}
		}
	}
	// The VTK file: header, then per field a binary block of 8·cells bytes.
	data, err := os.ReadFile(filepath.Join(dir, "reservoir_1.vtk"))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.NX * cfg.NY * cfg.NZ
	for _, h := range []string{"DIMENSIONS 9 9 3\n", fmt.Sprintf("CELL_DATA %d\n", n), "SCALARS Sw double 1\n", "SCALARS pressure_bar double 1\n", "SCALARS kx_mD double 1\n"} {
		if !bytes.Contains(data, []byte(h)) {
			t.Errorf("VTK file lacks %q", h)
		}
	}
	i := bytes.Index(data, []byte("SCALARS Sw double 1\nLOOKUP_TABLE default\n"))
	sw := data[i+len("SCALARS Sw double 1\nLOOKUP_TABLE default\n"):]
	for c := range n {
		v := math.Float64frombits(uint64(sw[8*c])<<56 | uint64(sw[8*c+1])<<48 | uint64(sw[8*c+2])<<40 | uint64(sw[8*c+3])<<32 |
			uint64(sw[8*c+4])<<24 | uint64(sw[8*c+5])<<16 | uint64(sw[8*c+6])<<8 | uint64(sw[8*c+7]))
		if v != res.Sat[c] {
			t.Fatalf("VTK Sw of cell %d = %g, simulation %g", c, v, res.Sat[c])
		}
	}
	// The profile: header and one line per diagonal cell.
	fh, err := os.Open(cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != cfg.NX+1 || lines[0] != "x_D,S" || !strings.HasPrefix(lines[1], "0.000000,") || !strings.HasPrefix(lines[cfg.NX], "1.000000,") {
		t.Errorf("profile lines %q", lines)
	}
}

func TestChooseProcs(t *testing.T) {
	for _, c := range []struct {
		n, want [3]int
		size    int
		out     [3]int
		err     string
	}{
		{[3]int{400, 1, 1}, [3]int{}, 4, [3]int{4, 1, 1}, ""},
		{[3]int{64, 64, 1}, [3]int{}, 4, [3]int{2, 2, 1}, ""},
		{[3]int{60, 220, 85}, [3]int{}, 2, [3]int{1, 2, 1}, ""},
		{[3]int{12, 12, 4}, [3]int{1, 1, 4}, 4, [3]int{1, 1, 4}, ""},
		{[3]int{12, 12, 4}, [3]int{0, 4, 0}, 4, [3]int{1, 4, 1}, ""},
		{[3]int{10, 1, 1}, [3]int{3, 1, 1}, 3, [3]int{}, "nx=10 is not divisible by 3"},
		{[3]int{10, 10, 1}, [3]int{2, 2, 1}, 2, [3]int{}, "has 4 processes but the job has 2"},
		{[3]int{7, 7, 1}, [3]int{}, 2, [3]int{}, "cannot be split evenly over 2 processes"},
	} {
		got, err := chooseProcs(c.n, c.want, c.size)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v on %d as %v: error %v, want %q", c.n, c.size, c.want, err, c.err)
			}
			continue
		}
		if err != nil || got != c.out {
			t.Errorf("%v on %d as %v: %v %v, want %v", c.n, c.size, c.want, got, err, c.out)
		}
	}
}

// Bad input is refused with a message naming what is wrong.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name  string
		ranks int
		args  []string
		want  string
	}{
		{"negative viscosity", 1, []string{"-case", "bl", "-muw", "-1"}, "-muw -1 cP: water viscosity must be positive"},
		{"zero oil viscosity", 1, []string{"-case", "bl", "-muo", "0"}, "-muo 0 cP"},
		{"missing permeability file", 1, []string{"-rock", "spe10", "-permfile", "/nonexistent/spe_perm.dat", "-nx", "4", "-ny", "4", "-nz", "2"}, "SPE10 file: open /nonexistent/spe_perm.dat: no such file or directory"},
		{"grid not divisible as asked", 3, []string{"-case", "bl", "-nx", "100", "-procs", "3,1,1"}, "grid 100x1x1 is not divisible by process grid 3x1x1: nx=100 is not divisible by 3"},
		{"grid not divisible at all", 3, []string{"-case", "fivespot", "-nx", "16", "-ny", "16"}, "cannot be split evenly over 3 processes"},
		{"residuals", 1, []string{"-case", "bl", "-swc", "0.6", "-sor", "0.5"}, "swc+sor < 1"},
		{"well outside", 1, []string{"-case", "fivespot", "-well", "inj:40,0,100", "-well", "prod:5,5,100"}, "lies outside the 32x32x1 grid"},
		{"no producer", 1, []string{"-case", "fivespot", "-well", "inj:0,0,100"}, "need at least one injector and one producer"},
		{"snapshot after end", 1, []string{"-case", "bl", "-pvi", "0.5", "-snap", "0.7"}, "-snap 0.7"},
		{"bad box", 1, []string{"-rock", "spe10", "-permfile", "x", "-nx", "60", "-box", "10,0,0"}, "does not fit in the file grid"},
		{"unknown case", 1, []string{"-case", "nine-spot"}, `unknown case "nine-spot"`},
		{"bad process grid", 1, []string{"-procs", "2,x"}, "-procs"},
		{"well radius beyond the cell", 2, []string{"-case", "fivespot", "-nx", "8", "-ny", "8", "-dx", "0.1", "-dy", "0.1", "-well", "inj:0,0,10", "-well", "prod:7,7,100"}, "well inj:0,0,10: Peaceman radius 0.0198 m is not larger than the well radius 0.05 m"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errs []string
			err := commtest.Run(c.ranks, func(cm *comm.Comm) error {
				cfg, err := parseFlags(c.args, &bytes.Buffer{})
				if err == nil {
					_, err = simulate(cm, cfg)
				}
				if err == nil {
					return fmt.Errorf("accepted %q", c.args)
				}
				if cm.Rank() == 0 {
					errs = append(errs, err.Error())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) != 1 || !strings.Contains(errs[0], c.want) {
				t.Errorf("error %q, want it to contain %q", errs, c.want)
			}
		})
	}
}

// mainRun reports flag errors with exit status 2 and runs a tiny case.
func TestMainRun(t *testing.T) {
	var out, errb bytes.Buffer
	if code := mainRun([]string{"-case", "bl", "-nw", "0.5"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "Corey exponents -nw 0.5") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func TestParseWell(t *testing.T) {
	for _, c := range []struct {
		in   string
		want well
		err  string
	}{
		{"inj:1,2,86.4", well{Injector: true, I: 1, J: 2, K0: 0, K1: 4, Rate: 86.4 / day}, ""},
		{"prod:3x4x150:1-2", well{I: 3, J: 4, K0: 1, K1: 2, BHP: 150 * bar}, ""},
		{"inj:1,2", well{}, "want three numbers"},
		{"obs:1,2,3", well{}, "neither inj nor prod"},
		{"prod:1.5,2,3", well{}, "must be integers"},
		{"prod:1,2,3:a-b", well{}, "want K0-K1"},
	} {
		w, err := parseWell(c.in, 5)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || w.Injector != c.want.Injector || w.I != c.want.I || w.J != c.want.J || w.K0 != c.want.K0 || w.K1 != c.want.K1 ||
			math.Abs(w.Rate-c.want.Rate) > 1e-15 || w.BHP != c.want.BHP {
			t.Errorf("%q: %+v %v, want %+v", c.in, w, err, c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args  []string
		check func(config) bool
	}{
		{[]string{"-case", "bl", "-pvi", "0.3"}, func(c config) bool {
			// The case's snapshots beyond -pvi are dropped.
			return c.NX == 400 && c.NY == 1 && len(c.Snaps) == 1 && c.Snaps[0] == 0.2 && len(c.Wells) == 2 && c.Wells[1].I == 399
		}},
		{[]string{"-case=fivespot", "-muo", "4", "-perm", "50", "-swc", "0.2"}, func(c config) bool {
			return c.Fluid.MuO == 4*centiPoise && c.PermMean == 50*milliDarcy && c.Sinit == 0.2 && c.Wells[1].I == 31 && c.Wells[1].J == 31 && c.Wells[0].Frac == 0.25
		}},
		{[]string{"-nx", "6", "-ny", "6", "-nz", "3", "-well", "inj:0,0,50:0-1", "-well", "prod:5,5,90", "-procs", "1x2x1"}, func(c config) bool {
			return c.Case == "free" && len(c.Wells) == 2 && c.Wells[0].K1 == 1 && c.Wells[1].K1 == 2 && c.Wells[1].BHP == 90*bar && c.Procs == [3]int{1, 2, 1}
		}},
	} {
		cfg, err := parseFlags(c.args, &bytes.Buffer{})
		if err != nil || !c.check(cfg) {
			t.Errorf("%q: %v, config %+v", c.args, err, cfg)
		}
	}
}
