package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Units inside the simulator are SI (m, s, Pa, m², Pa·s); flags take the
// units a reservoir engineer types: mD, cP, bar, m³/day.
const (
	milliDarcy = 9.869233e-16 // m²
	centiPoise = 1e-3         // Pa·s
	bar        = 1e5          // Pa
	day        = 86400.0      // s
)

// fluid holds the Corey relative permeabilities and viscosities of water
// (the displacing phase) and oil.
type fluid struct {
	MuW, MuO float64 // viscosities, Pa·s
	NW, NO   float64 // Corey exponents (≥ 1)
	Swc, Sor float64 // connate water and residual oil saturations
	KrwMax   float64 // end-point water relative permeability (at 1-Sor)
	KroMax   float64 // end-point oil relative permeability (at Swc)
}

// well is a vertical well perforated in layers K0..K1 of column (I, J).
// Injectors are rate controlled (Rate, m³/s of water at reservoir
// conditions); producers are pressure controlled (BHP, Pa).
type well struct {
	Name     string
	Injector bool
	I, J     int
	K0, K1   int
	Rate     float64 // injectors
	BHP      float64 // producers
	Rw       float64 // well radius, m
	Skin     float64
	Frac     float64 // fraction of the well inside the model (0.25 for a corner well of a quarter five-spot)
}

// config is one simulation. The zero value is not valid; start from
// defaultConfig or caseConfig and validate.
type config struct {
	Case       string // "bl", "fivespot" or "free"
	NX, NY, NZ int
	DX, DY, DZ float64 // cell sizes, m
	Fluid      fluid
	Wells      []well
	Sinit      float64 // initial water saturation (defaults to Swc)

	// Rock.
	Rock      string  // "homogeneous", "lognormal" or "spe10"
	PermMean  float64 // homogeneous value / geometric mean of kx, m²
	PermSigma float64 // standard deviation of ln k (lognormal)
	CorrLen   [3]float64
	Seed      uint64
	KvKh      float64 // kz/kx (homogeneous and lognormal)
	Poro      float64
	MinPoro   float64 // porosity floor for spe10 files (zero-porosity cells stall an explicit scheme)
	PermFile  string  // spe10
	PoroFile  string  // spe10; empty means uniform Poro
	SPEDims   [3]int  // full grid of the files
	Box       [3]int  // first cell of the sub-box read from the files

	// Time stepping and solver.
	PVI     float64   // stop after this many pore volumes injected
	Snaps   []float64 // PVI at which maps are written
	CFL     float64
	Tol     float64 // relative residual of the pressure solve
	MaxIter int

	// Decomposition: process grid; zeros mean chosen automatically.
	Procs [3]int

	// Output (rank 0). Empty Out disables files.
	Out       string
	Profile   string
	VTK       bool
	Layer     int
	BTCut     float64   // water cut that defines breakthrough
	StepEvery int       // print every n-th step (0: about 20 lines per run)
	Log       io.Writer // rank 0 progress and checks; nil is silent
}

func (c *config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format, a...)
	}
}

func defaultFluid() fluid {
	return fluid{MuW: 1 * centiPoise, MuO: 1 * centiPoise, NW: 2, NO: 2, KrwMax: 1, KroMax: 1}
}

// caseConfig returns the configuration of a named case at its default
// size; flags then override fields.
func caseConfig(name string) (config, error) {
	c := config{
		Case: name, NX: 1, NY: 1, NZ: 1, DX: 1, DY: 1, DZ: 1,
		Fluid: defaultFluid(), Sinit: math.NaN(),
		Rock: "homogeneous", PermMean: 100 * milliDarcy, PermSigma: 1, CorrLen: [3]float64{4, 4, 2},
		Seed: 1, KvKh: 0.1, Poro: 0.2, MinPoro: 1e-3, SPEDims: [3]int{60, 220, 85},
		PVI: 0.6, CFL: 0.9, Tol: 1e-8, MaxIter: 2000,
		Out: "reservoir-out", BTCut: 0.01,
	}
	switch name {
	case "bl":
		// A 1-D core flood: injector in the first cell, producer in the
		// last, both through the whole cross-section.
		c.NX, c.DX, c.DY, c.DZ = 400, 0.25, 1, 1
		c.Snaps = []float64{0.2, 0.4, 0.6}
	case "fivespot":
		// Quarter five-spot: injector and producer in opposite corners.
		c.NX, c.NY, c.NZ = 32, 32, 1
		c.DX, c.DY, c.DZ = 10, 10, 5
		c.PVI = 1.2
		c.Snaps = []float64{0.3, 0.6, 0.9}
	case "free":
		c.NX, c.NY, c.NZ = 32, 32, 8
		c.DX, c.DY, c.DZ = 10, 10, 2
		c.Rock = "lognormal"
		c.PVI = 0.5
		c.Snaps = []float64{0.25, 0.5}
	default:
		return config{}, fmt.Errorf("unknown case %q (want bl, fivespot or free)", name)
	}
	return c, nil
}

// defaultWells places the wells of a case once the grid is final.
func (c *config) defaultWells(rate float64) {
	pv := float64(c.NX*c.NY*c.NZ) * c.DX * c.DY * c.DZ * c.Poro
	rw := min(0.1, 0.1*min(c.DX, c.DY))
	if rate <= 0 {
		// One pore volume in 100 days unless asked otherwise; in an
		// incompressible model the rate only scales time.
		rate = pv / (100 * day)
	}
	switch c.Case {
	case "bl":
		c.Wells = []well{
			{Name: "INJ", Injector: true, I: 0, J: 0, K0: 0, K1: c.NZ - 1, Rate: rate, Rw: rw, Frac: 1},
			{Name: "PROD", I: c.NX - 1, J: 0, K0: 0, K1: c.NZ - 1, BHP: 100 * bar, Rw: rw, Frac: 1},
		}
	default:
		c.Wells = []well{
			{Name: "INJ", Injector: true, I: 0, J: 0, K0: 0, K1: c.NZ - 1, Rate: rate, Rw: rw, Frac: 0.25},
			{Name: "PROD", I: c.NX - 1, J: c.NY - 1, K0: 0, K1: c.NZ - 1, BHP: 100 * bar, Rw: rw, Frac: 0.25},
		}
	}
}

// validate reports the first thing wrong with c, naming the flag.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.NX < 1 || c.NY < 1 || c.NZ < 1 {
		bad("grid -nx %d -ny %d -nz %d: every dimension must be at least 1", c.NX, c.NY, c.NZ)
	}
	if !(c.DX > 0 && c.DY > 0 && c.DZ > 0) {
		bad("cell size -dx %g -dy %g -dz %g: must be positive", c.DX, c.DY, c.DZ)
	}
	f := c.Fluid
	if !(f.MuW > 0) || math.IsInf(f.MuW, 0) {
		bad("-muw %g cP: water viscosity must be positive and finite", f.MuW/centiPoise)
	}
	if !(f.MuO > 0) || math.IsInf(f.MuO, 0) {
		bad("-muo %g cP: oil viscosity must be positive and finite", f.MuO/centiPoise)
	}
	if !(f.NW >= 1 && f.NW <= 10) || !(f.NO >= 1 && f.NO <= 10) {
		bad("Corey exponents -nw %g -no %g: must lie in [1, 10]", f.NW, f.NO)
	}
	if !(f.Swc >= 0) || !(f.Sor >= 0) || !(f.Swc+f.Sor < 1) {
		bad("-swc %g -sor %g: residual saturations must be ≥ 0 with swc+sor < 1", f.Swc, f.Sor)
	}
	if !(f.KrwMax > 0) || !(f.KroMax > 0) {
		bad("end-point relative permeabilities %g, %g must be positive", f.KrwMax, f.KroMax)
	}
	if !(c.Sinit >= f.Swc && c.Sinit <= 1-f.Sor) {
		bad("-sinit %g: initial water saturation must lie in [swc, 1-sor] = [%g, %g]", c.Sinit, f.Swc, 1-f.Sor)
	}
	switch c.Rock {
	case "homogeneous", "lognormal":
		if !(c.PermMean > 0) {
			bad("-perm %g mD: permeability must be positive", c.PermMean/milliDarcy)
		}
		if c.Rock == "lognormal" && (!(c.PermSigma >= 0) || c.PermSigma > 10) {
			bad("-sigma %g: standard deviation of ln k must lie in [0, 10]", c.PermSigma)
		}
		for d, l := range c.CorrLen {
			if !(l >= 0) || l > 1e4 {
				bad("-corr: correlation length %g (dimension %d) must lie in [0, 1e4] cells", l, d)
			}
		}
		if !(c.KvKh > 0) {
			bad("-kvkh %g: must be positive", c.KvKh)
		}
	case "spe10":
		if c.PermFile == "" {
			bad("-rock spe10 needs -permfile")
		}
		for d := range 3 {
			if c.SPEDims[d] < 1 || c.Box[d] < 0 || c.Box[d]+[]int{c.NX, c.NY, c.NZ}[d] > c.SPEDims[d] {
				bad("-box %v with grid %dx%dx%d does not fit in the file grid -spedims %v", c.Box, c.NX, c.NY, c.NZ, c.SPEDims)
				break
			}
		}
		if !(c.MinPoro > 0 && c.MinPoro < 1) {
			bad("-minporo %g: must lie in (0, 1)", c.MinPoro)
		}
	default:
		bad("-rock %q: want homogeneous, lognormal or spe10", c.Rock)
	}
	if c.Rock != "spe10" || c.PoroFile == "" {
		if !(c.Poro > 0 && c.Poro <= 1) {
			bad("-poro %g: porosity must lie in (0, 1]", c.Poro)
		}
	}
	if !(c.PVI > 0) || math.IsInf(c.PVI, 0) {
		bad("-pvi %g: pore volumes to inject must be positive", c.PVI)
	}
	for _, s := range c.Snaps {
		if !(s > 0) || s > c.PVI {
			bad("-snap %g: snapshot times must lie in (0, pvi=%g]", s, c.PVI)
		}
	}
	if !(c.CFL > 0 && c.CFL <= 1) {
		bad("-cfl %g: must lie in (0, 1]", c.CFL)
	}
	if !(c.Tol > 0 && c.Tol < 1) || c.MaxIter < 1 {
		bad("-tol %g -maxiter %d: need 0 < tol < 1 and maxiter ≥ 1", c.Tol, c.MaxIter)
	}
	if !(c.BTCut > 0 && c.BTCut < 1) {
		bad("-btcut %g: must lie in (0, 1)", c.BTCut)
	}
	if c.Layer < 0 || c.Layer >= c.NZ {
		bad("-layer %d: must lie in [0, nz-1=%d]", c.Layer, c.NZ-1)
	}
	nprod, ninj := 0, 0
	for _, w := range c.Wells {
		if w.I < 0 || w.I >= c.NX || w.J < 0 || w.J >= c.NY || w.K0 < 0 || w.K1 >= c.NZ || w.K0 > w.K1 {
			bad("well %s at (%d,%d) layers %d..%d lies outside the %dx%dx%d grid", w.Name, w.I, w.J, w.K0, w.K1, c.NX, c.NY, c.NZ)
		}
		if !(w.Rw > 0) || !(w.Frac > 0 && w.Frac <= 1) {
			bad("well %s: radius %g and fraction %g must be positive (fraction ≤ 1)", w.Name, w.Rw, w.Frac)
		}
		if w.Injector {
			ninj++
			if !(w.Rate > 0) || math.IsInf(w.Rate, 0) {
				bad("injector %s: rate %g m³/day must be positive", w.Name, w.Rate*day)
			}
		} else {
			nprod++
			if math.IsNaN(w.BHP) || math.IsInf(w.BHP, 0) {
				bad("producer %s: bottom-hole pressure must be finite", w.Name)
			}
		}
	}
	if ninj == 0 || nprod == 0 {
		bad("need at least one injector and one producer (have %d and %d): incompressible flow needs a pressure-controlled outlet", ninj, nprod)
	}
	for d, p := range c.Procs {
		if p < 0 {
			bad("-procs: %d processes along dimension %d", p, d)
		}
	}
	return errors.Join(errs...)
}

// parseTriple reads "a,b,c" or "axbxc" into three numbers.
func parseTriple(s string) ([3]float64, error) {
	var out [3]float64
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == 'x' })
	if len(parts) != 3 {
		return out, fmt.Errorf("%q: want three numbers like 2,2,1 or 2x2x1", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return out, fmt.Errorf("%q: %q is not a number", s, p)
		}
		out[i] = v
	}
	return out, nil
}

func parseIntTriple(s string) ([3]int, error) {
	f, err := parseTriple(s)
	var out [3]int
	if err != nil {
		return out, err
	}
	for i, v := range f {
		if v != math.Trunc(v) || math.Abs(v) > 1e9 {
			return out, fmt.Errorf("%q: %g is not an integer", s, v)
		}
		out[i] = int(v)
	}
	return out, nil
}

// parseList reads "0.2,0.4" into numbers.
func parseList(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for p := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a number", s, p)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseWell reads a well given on the command line:
// "inj:I,J,RATE" (m³/day) or "prod:I,J,BHP" (bar), optionally followed by
// ":K0-K1" to perforate only those layers.
func parseWell(s string, nz int) (well, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return well{}, fmt.Errorf("well %q: want inj:I,J,RATE or prod:I,J,BHP with optional :K0-K1", s)
	}
	w := well{Name: s, K0: 0, K1: nz - 1, Rw: 0.05, Frac: 1}
	switch parts[0] {
	case "inj":
		w.Injector = true
	case "prod":
	default:
		return well{}, fmt.Errorf("well %q: kind %q is neither inj nor prod", s, parts[0])
	}
	v, err := parseTriple(parts[1])
	if err != nil {
		return well{}, fmt.Errorf("well %q: %w", s, err)
	}
	if v[0] != math.Trunc(v[0]) || v[1] != math.Trunc(v[1]) || math.Abs(v[0]) > 1e9 || math.Abs(v[1]) > 1e9 {
		return well{}, fmt.Errorf("well %q: column indices must be integers", s)
	}
	w.I, w.J = int(v[0]), int(v[1])
	if w.Injector {
		w.Rate = v[2] / day
	} else {
		w.BHP = v[2] * bar
	}
	if len(parts) == 3 {
		var k0, k1 int
		if _, err := fmt.Sscanf(parts[2], "%d-%d", &k0, &k1); err != nil {
			return well{}, fmt.Errorf("well %q: layers %q: want K0-K1", s, parts[2])
		}
		w.K0, w.K1 = k0, k1
	}
	return w, nil
}
