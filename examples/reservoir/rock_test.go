package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// speValue is the value the generated files hold at field f, cell (i,j,k).
func speValue(f, i, j, k int) float64 { return float64(1000*f+100*k+10*j+i) + 0.5 }

// speFile writes fields over dims in the SPE10 layout: i fastest, fields
// one after another, six values a line as in spe_perm.dat.
func speFile(dims [3]int, fields int, val func(f, i, j, k int) float64) []byte {
	var b bytes.Buffer
	m := 0
	for f := range fields {
		for k := range dims[2] {
			for j := range dims[1] {
				for i := range dims[0] {
					fmt.Fprintf(&b, "%.4e", val(f, i, j, k))
					m++
					if m%6 == 0 {
						b.WriteByte('\n')
					} else {
						b.WriteByte('\t')
					}
				}
			}
		}
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestReadSPE10(t *testing.T) {
	dims := [3]int{5, 4, 3}
	data := speFile(dims, 3, speValue)
	box0, boxN := [3]int{1, 2, 1}, [3]int{3, 2, 2}
	got, err := readSPE10(bytes.NewReader(data), dims, 3, box0, boxN)
	if err != nil {
		t.Fatal(err)
	}
	for f := range 3 {
		m := 0
		for k := range boxN[2] {
			for j := range boxN[1] {
				for i := range boxN[0] {
					if want := speValue(f, box0[0]+i, box0[1]+j, box0[2]+k); got[f][m] != want {
						t.Fatalf("field %d box cell (%d,%d,%d): %g, want %g", f, i, j, k, got[f][m], want)
					}
					m++
				}
			}
		}
	}
	bad := []struct {
		name string
		data []byte
		want string
	}{
		{"short", data[:len(data)/2], "want 180"},
		{"long", append(bytes.Clone(data), "1.0\n"...), "more than the 180 values"},
		{"word", bytes.Replace(data, []byte("1.5000e+00"), []byte("one"), 1), `"one" is not a number`},
		{"negative", bytes.Replace(data, []byte("1.5000e+00"), []byte("-1.5"), 1), "not a finite non-negative number"},
		{"nan", bytes.Replace(data, []byte("1.5000e+00"), []byte("NaN"), 1), "not a finite non-negative number"},
	}
	for _, c := range bad {
		if _, err := readSPE10(bytes.NewReader(c.data), dims, 3, box0, boxN); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := readSPE10(bytes.NewReader(data), dims, 3, [3]int{3, 0, 0}, boxN); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("box past the grid: %v", err)
	}
}

// The spe10 rock option reads both files for a sub-box, converts mD, and
// raises porosities below -minporo.
func TestLoadRockSPE10(t *testing.T) {
	dir := t.TempDir()
	dims := [3]int{6, 4, 2}
	perm := filepath.Join(dir, "spe_perm.dat")
	poro := filepath.Join(dir, "spe_phi.dat")
	if err := os.WriteFile(perm, speFile(dims, 3, speValue), 0o644); err != nil {
		t.Fatal(err)
	}
	phi := func(_, i, j, k int) float64 {
		if i == 2 && j == 1 {
			return 0
		}
		return 0.01 * float64(1+i+j+k)
	}
	if err := os.WriteFile(poro, speFile(dims, 1, phi), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := caseConfig("free")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NX, cfg.NY, cfg.NZ = 4, 2, 2
	cfg.Rock, cfg.PermFile, cfg.PoroFile, cfg.SPEDims, cfg.Box = "spe10", perm, poro, dims, [3]int{2, 1, 0}
	cfg.Sinit = 0
	cfg.defaultWells(0)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	// Rank (1,0,0) of a 2×1×1 grid: cells i = 2,3 of the box.
	b := newBlock([3]int{4, 2, 2}, [3]int{2, 1, 1}, [3]int{1, 0, 0})
	rk, err := loadRock(&cfg, &b)
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	for k := range 2 {
		for j := range 2 {
			for i := range 2 {
				gi, gj, gk := 2+2+i, 1+j, k
				for f, got := range [][]float64{rk.kx, rk.ky, rk.kz} {
					if want := speValue(f, gi, gj, gk) * milliDarcy; math.Abs(got[m]-want) > 1e-12*want {
						t.Errorf("k%c at (%d,%d,%d) = %g, want %g", "xyz"[f], gi, gj, gk, got[m], want)
					}
				}
				if want := max(phi(0, gi, gj, gk), cfg.MinPoro); rk.phi[m] != want {
					t.Errorf("porosity at (%d,%d,%d) = %g, want %g", gi, gj, gk, rk.phi[m], want)
				}
				m++
			}
		}
	}
	if rk.clamped != 0 {
		t.Errorf("%d cells clamped in a part without zero porosity", rk.clamped)
	}
	b0 := newBlock([3]int{4, 2, 2}, [3]int{2, 1, 1}, [3]int{0, 0, 0})
	if rk, err = loadRock(&cfg, &b0); err != nil || rk.clamped != 2 {
		t.Errorf("rank 0: %d cells clamped (%v), want 2", rk.clamped, err)
	}
}

func TestGaussianField(t *testing.T) {
	n := [3]int{40, 30, 6}
	corr := func(g []float64, lag int) float64 {
		s, c := 0.0, 0
		for k := range n[2] {
			for j := range n[1] {
				for i := 0; i+lag < n[0]; i++ {
					a := i + n[0]*(j+n[1]*k)
					s += g[a] * g[a+lag]
					c++
				}
			}
		}
		return s / float64(c)
	}
	for _, c := range []struct {
		corr   [3]float64
		lo, hi float64 // bounds of the lag-1 correlation along x
	}{
		{[3]float64{0, 0, 0}, -0.1, 0.1},
		{[3]float64{4, 4, 1}, 0.85, 1},
	} {
		g := gaussianField(n, c.corr, 7)
		mean, sq := 0.0, 0.0
		for _, v := range g {
			mean += v
			sq += v * v
		}
		mean /= float64(len(g))
		if math.Abs(mean) > 1e-12 || math.Abs(sq/float64(len(g))-1) > 1e-9 {
			t.Errorf("corr %v: mean %g, variance %g", c.corr, mean, sq/float64(len(g)))
		}
		if r := corr(g, 1); r < c.lo || r > c.hi {
			t.Errorf("corr %v: lag-1 correlation %.3f outside [%g, %g]", c.corr, r, c.lo, c.hi)
		}
	}
	a, b := gaussianField(n, [3]float64{2, 2, 1}, 1), gaussianField(n, [3]float64{2, 2, 1}, 2)
	if a2 := gaussianField(n, [3]float64{2, 2, 1}, 1); a2[17] != a[17] || a[17] == b[17] {
		t.Errorf("seeded fields: %g, %g (same seed), %g (other seed)", a[17], a2[17], b[17])
	}
}

// FuzzReadSPE10 feeds arbitrary bytes to the SPE10 reader: it must fail
// cleanly or return the box with finite non-negative values.
func FuzzReadSPE10(f *testing.F) {
	dims := [3]int{3, 2, 2}
	f.Add(speFile(dims, 3, speValue))
	f.Add(speFile(dims, 3, func(int, int, int, int) float64 { return 0 }))
	f.Add([]byte("1 2 3\n4e5 5.5 6\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := readSPE10(bytes.NewReader(data), dims, 3, [3]int{1, 0, 1}, [3]int{2, 2, 1})
		if err != nil {
			return
		}
		for _, fld := range out {
			if len(fld) != 4 {
				t.Fatalf("field of %d values", len(fld))
			}
			for _, v := range fld {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Fatalf("value %g accepted", v)
				}
			}
		}
	})
}

// A run on SPE10-format files gives the same answer on one and two ranks
// (each rank reads its own part of the sub-box) and conserves water.
func TestSPE10Run(t *testing.T) {
	dir := t.TempDir()
	dims := [3]int{10, 8, 3}
	perm := filepath.Join(dir, "spe_perm.dat")
	poro := filepath.Join(dir, "spe_phi.dat")
	kval := func(f, i, j, k int) float64 {
		v := 50 + 400*math.Abs(math.Sin(float64(3*i+5*j+7*k)))
		if f == 2 {
			v *= 0.1
		}
		return v
	}
	if err := os.WriteFile(perm, speFile(dims, 3, kval), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(poro, speFile(dims, 1, func(_, i, j, k int) float64 { return 0.15 + 0.01*float64((i+j+k)%5) }), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := caseConfig("free")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NX, cfg.NY, cfg.NZ = 6, 6, 2
	cfg.Rock, cfg.PermFile, cfg.PoroFile, cfg.SPEDims, cfg.Box = "spe10", perm, poro, dims, [3]int{3, 1, 1}
	cfg.Sinit, cfg.PVI, cfg.Snaps, cfg.Out = 0, 0.2, nil, ""
	cfg.defaultWells(0)
	one := runRanks(t, 1, cfg)
	two := runRanks(t, 2, cfg)
	worst := 0.0
	for i := range one.Sat {
		worst = max(worst, math.Abs(one.Sat[i]-two.Sat[i]))
	}
	if !(worst < 1e-6) || one.Steps != two.Steps {
		t.Errorf("1 and 2 ranks: %d and %d steps, saturation differs by %.3g", one.Steps, two.Steps, worst)
	}
	if !(one.MaxMassErr < 1e-12) || !(two.MaxMassErr < 1e-12) {
		t.Errorf("mass balance %.3g, %.3g", one.MaxMassErr, two.MaxMassErr)
	}
}
