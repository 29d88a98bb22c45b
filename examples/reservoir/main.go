// Command reservoir is a parallel two-phase (oil–water) waterflood
// simulator: incompressible, immiscible flow in 3-D solved by IMPES, with
// a two-point-flux pressure equation solved by block-Jacobi IC(0)
// preconditioned CG and an explicit upwind saturation update. It checks
// itself against the Buckley–Leverett solution (-case bl) and runs a
// quarter five-spot (-case fivespot) or any configuration given by flags.
//
//	mpx run -n 4 ./examples/reservoir -case fivespot
//	go run ./examples/reservoir -case bl -muo 5 -no 3 -profile bl.csv
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	os.Exit(mainRun(os.Args[1:], os.Stdout, os.Stderr))
}

// mainRun joins the job, parses flags and runs; the exit status is 2 for
// bad input and 1 for a failed run.
func mainRun(args []string, stdout, stderr io.Writer) int {
	world, err := comm.Init()
	if err != nil {
		fmt.Fprintln(stderr, "reservoir:", err)
		return 1
	}
	defer world.Finalize()
	root := world.Rank() == 0
	if !root {
		// Flag errors and help are reported once, by rank 0.
		stderr = io.Discard
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "reservoir:", err)
		return 2
	}
	if root {
		cfg.Log = stdout
	}
	res, err := simulate(world, cfg)
	var bad *inputError
	if errors.As(err, &bad) {
		// Every rank found the same fault before any message was sent.
		fmt.Fprintln(stderr, "reservoir:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reservoir: rank %d: %v\n", world.Rank(), err)
		if world.Size() > 1 {
			// The other ranks may be waiting in a collective for this one.
			world.Abort(1)
		}
		return 1
	}
	for _, f := range res.Files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	return 0
}

// simulate runs cfg on the ranks of c, laid out as the process grid that
// cfg.Procs asks for or the one that divides the grid with least halo
// traffic. Every rank returns the same scalars; rank 0 also holds the
// global fields, profile and checks.
func simulate(c *comm.Comm, cfg config) (*result, error) {
	if err := cfg.validate(); err != nil {
		return nil, &inputError{err}
	}
	procs, err := chooseProcs([3]int{cfg.NX, cfg.NY, cfg.NZ}, cfg.Procs, c.Size())
	if err != nil {
		return nil, &inputError{err}
	}
	t, err := newCommTeam(c, procs)
	if err != nil {
		return nil, err
	}
	return run(t, &cfg)
}

// stringList collects a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseFlags builds the configuration: the case's defaults, then flags.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	caseName := "free"
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "case="); ok {
			caseName = v
		} else if a == "case" && i+1 < len(args) {
			caseName = args[i+1]
		}
	}
	cfg, err := caseConfig(caseName)
	if err != nil {
		return config{}, err
	}
	fs := flag.NewFlagSet("reservoir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("case", caseName, "bl (1-D Buckley-Leverett), fivespot (quarter five-spot) or free")
	fs.IntVar(&cfg.NX, "nx", cfg.NX, "cells along x")
	fs.IntVar(&cfg.NY, "ny", cfg.NY, "cells along y")
	fs.IntVar(&cfg.NZ, "nz", cfg.NZ, "cells along z")
	fs.Float64Var(&cfg.DX, "dx", cfg.DX, "cell size along x, m")
	fs.Float64Var(&cfg.DY, "dy", cfg.DY, "cell size along y, m")
	fs.Float64Var(&cfg.DZ, "dz", cfg.DZ, "cell size along z, m")
	muw := fs.Float64("muw", cfg.Fluid.MuW/centiPoise, "water viscosity, cP")
	muo := fs.Float64("muo", cfg.Fluid.MuO/centiPoise, "oil viscosity, cP")
	fs.Float64Var(&cfg.Fluid.NW, "nw", cfg.Fluid.NW, "Corey exponent of water")
	fs.Float64Var(&cfg.Fluid.NO, "no", cfg.Fluid.NO, "Corey exponent of oil")
	fs.Float64Var(&cfg.Fluid.Swc, "swc", cfg.Fluid.Swc, "connate water saturation")
	fs.Float64Var(&cfg.Fluid.Sor, "sor", cfg.Fluid.Sor, "residual oil saturation")
	fs.Float64Var(&cfg.Fluid.KrwMax, "krw", cfg.Fluid.KrwMax, "water relative permeability at 1-sor")
	fs.Float64Var(&cfg.Fluid.KroMax, "kro", cfg.Fluid.KroMax, "oil relative permeability at swc")
	sinit := fs.Float64("sinit", math.NaN(), "initial water saturation (default swc)")
	fs.StringVar(&cfg.Rock, "rock", cfg.Rock, "homogeneous, lognormal or spe10")
	perm := fs.Float64("perm", cfg.PermMean/milliDarcy, "permeability (homogeneous) or its geometric mean (lognormal), mD")
	fs.Float64Var(&cfg.PermSigma, "sigma", cfg.PermSigma, "standard deviation of ln k (lognormal)")
	corr := fs.String("corr", fmt.Sprintf("%g,%g,%g", cfg.CorrLen[0], cfg.CorrLen[1], cfg.CorrLen[2]), "correlation lengths in cells along x,y,z (lognormal)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the lognormal field")
	fs.Float64Var(&cfg.KvKh, "kvkh", cfg.KvKh, "kz/kx (homogeneous and lognormal)")
	fs.Float64Var(&cfg.Poro, "poro", cfg.Poro, "porosity (unless -porofile)")
	fs.StringVar(&cfg.PermFile, "permfile", "", "SPE10 model 2 permeability file (spe_perm.dat: kx, ky, kz in mD)")
	fs.StringVar(&cfg.PoroFile, "porofile", "", "SPE10 model 2 porosity file (spe_phi.dat)")
	spedims := fs.String("spedims", "60,220,85", "grid of the SPE10 files")
	box := fs.String("box", "0,0,0", "first cell (i,j,k) of the sub-box read from the SPE10 files; its size is nx,ny,nz")
	fs.Float64Var(&cfg.MinPoro, "minporo", cfg.MinPoro, "porosity floor for SPE10 cells")
	fs.Float64Var(&cfg.PVI, "pvi", cfg.PVI, "stop after this many pore volumes injected")
	snaps := fs.String("snap", joinFloats(cfg.Snaps), "PVI at which saturation maps are written (comma list)")
	fs.Float64Var(&cfg.CFL, "cfl", cfg.CFL, "CFL number of the saturation step")
	fs.Float64Var(&cfg.Tol, "tol", cfg.Tol, "pressure solve: residual relative to the injection rate")
	fs.IntVar(&cfg.MaxIter, "maxiter", cfg.MaxIter, "pressure solve: CG iteration limit")
	procs := fs.String("procs", "0,0,0", "process grid px,py,pz (0: chosen); the grid must divide evenly")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "directory for PNG and VTK files (empty: none)")
	fs.StringVar(&cfg.Profile, "profile", "", "write the final saturation along the flow direction as CSV x_D,S")
	fs.BoolVar(&cfg.VTK, "vtk", true, "write VTK files with the maps")
	fs.IntVar(&cfg.Layer, "layer", 0, "layer shown in the saturation maps")
	fs.Float64Var(&cfg.BTCut, "btcut", cfg.BTCut, "water cut that marks breakthrough")
	fs.IntVar(&cfg.StepEvery, "every", 0, "print every n-th step (0: about 20 lines)")
	rate := fs.Float64("rate", 0, "injection rate of the case's injector, m³/day (default: 1 PV per 100 days)")
	var wells stringList
	fs.Var(&wells, "well", "well inj:I,J,RATE (m³/day) or prod:I,J,BHP (bar), optional :K0-K1; repeat; replaces the case's wells")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Fluid.MuW, cfg.Fluid.MuO = *muw*centiPoise, *muo*centiPoise
	cfg.PermMean = *perm * milliDarcy
	cfg.Sinit = cfg.Fluid.Swc
	if !math.IsNaN(*sinit) {
		cfg.Sinit = *sinit
	}
	if cfg.CorrLen, err = parseTriple(*corr); err != nil {
		return config{}, fmt.Errorf("-corr %w", err)
	}
	if cfg.SPEDims, err = parseIntTriple(*spedims); err != nil {
		return config{}, fmt.Errorf("-spedims %w", err)
	}
	if cfg.Box, err = parseIntTriple(*box); err != nil {
		return config{}, fmt.Errorf("-box %w", err)
	}
	if cfg.Procs, err = parseIntTriple(*procs); err != nil {
		return config{}, fmt.Errorf("-procs %w", err)
	}
	if cfg.Snaps, err = parseList(*snaps); err != nil {
		return config{}, fmt.Errorf("-snap %w", err)
	}
	snapSet := false
	fs.Visit(func(f *flag.Flag) { snapSet = snapSet || f.Name == "snap" })
	if !snapSet {
		// The case's own snapshot times give way to a shorter -pvi.
		cfg.Snaps = slices.DeleteFunc(cfg.Snaps, func(v float64) bool { return v > cfg.PVI })
	}
	if len(wells) > 0 {
		for _, w := range wells {
			wl, err := parseWell(w, cfg.NZ)
			if err != nil {
				return config{}, err
			}
			cfg.Wells = append(cfg.Wells, wl)
		}
	} else {
		cfg.defaultWells(*rate / day)
	}
	return cfg, cfg.validate()
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// inputError is a configuration every rank rejects alike, before any
// communication: reported once, with no need to abort the job.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }
