// Command cavity computes the steady flow in the lid-driven unit square, a
// classic incompressible Navier-Stokes benchmark, decomposed over a 2-D
// Cartesian process grid, and checks the centreline velocity profiles against
// Ghia, Ghia & Shin (1982).
//
//	mpx run -n 4 ./examples/cfd/cavity -re 100 -n 129 -out cavity-out
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("cavity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{}
	fs.Float64Var(&cfg.re, "re", 100, "Reynolds number (Ghia's tables: 100, 400, 1000, 3200)")
	fs.IntVar(&cfg.n, "n", 129, "grid nodes per side; n-1 must split evenly over the process grid")
	fs.Float64Var(&cfg.tol, "tol", 1e-5, "steady state when the RMS vorticity and streamfunction residuals fall below this")
	fs.IntVar(&cfg.maxSteps, "max-steps", 200000, "give up after this many pseudo-time steps")
	fs.Float64Var(&cfg.cfl, "cfl", 2, "local time-step factor of the four-stage scheme (2.8 bounds its stability; coarse grids need less)")
	fs.StringVar(&cfg.out, "out", "", "directory for cavity.vtk, cavity_velocity.png and cavity_profiles.png (none if empty)")
	fs.BoolVar(&cfg.quiet, "q", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case !(cfg.re > 0):
		return cfg, fmt.Errorf("-re %g: the Reynolds number must be positive", cfg.re)
	case cfg.n < 5 || (cfg.n-1)%2 != 0:
		return cfg, fmt.Errorf("-n %d: need at least 5 nodes and an even number of intervals (n odd)", cfg.n)
	case !(cfg.tol > 0):
		return cfg, fmt.Errorf("-tol %g: the tolerance must be positive", cfg.tol)
	case cfg.maxSteps < 1:
		return cfg, fmt.Errorf("-max-steps %d: need at least one step", cfg.maxSteps)
	case !(cfg.cfl > 0) || cfg.cfl > 2.8:
		return cfg, fmt.Errorf("-cfl %g: must lie in (0, 2.8], the stability limit of the four-stage scheme", cfg.cfl)
	}
	return cfg, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cavity:", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cavity:", err)
		os.Exit(1)
	}
}

func run(cfg config, stdout io.Writer) error {
	world, err := comm.Init()
	if err != nil {
		return err
	}
	defer world.Finalize()
	res, err := solve(world, cfg)
	if err != nil {
		return err
	}
	if world.Rank() != 0 {
		return nil
	}
	return report(res, cfg, stdout)
}

func report(res result, cfg config, w io.Writer) error {
	fmt.Fprintf(w, "lid-driven cavity  Re %g  grid %d×%d  ranks %d (%d×%d)\n", res.re, res.n, res.n, res.ranks, res.px, res.py)
	state := "converged"
	if !res.converged {
		state = "NOT converged"
	}
	fmt.Fprintf(w, "%s after %d steps, residual %.2e (tol %.1e), %.2f s\n", state, res.steps, res.residual, cfg.tol, res.elapsed.Seconds())
	pmin, at := 0.0, 0
	for i, x := range res.psi {
		if x < pmin {
			pmin, at = x, i
		}
	}
	h := 1 / float64(res.n-1)
	fmt.Fprintf(w, "primary vortex: ψ = %.6f at (%.4f, %.4f)\n", pmin, float64(at%res.n)*h, float64(at/res.n)*h)
	c, ok, err := compareGhia(&res)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(w, "Ghia et al. (1982) have no table for Re %g; no comparison\n", res.re)
	} else {
		fmt.Fprintf(w, "Ghia et al. (1982) centrelines, deviation in units of the lid speed:\n")
		for _, d := range []deviation{c.u, c.v} {
			fmt.Fprintf(w, "  %s: %2d points  max %.4f (at %.4f)  rms %.4f\n", d.comp, d.points, d.max, d.worstAt, d.rms)
		}
		fmt.Fprintf(w, "  both: max %.4f  rms %.4f\n", c.max, c.rms)
	}
	if cfg.out != "" {
		if err := writeOutputs(cfg.out, &res, c); err != nil {
			return err
		}
	}
	if !res.converged {
		return fmt.Errorf("no steady state within %d steps (residual %.2e > tol %.1e)", cfg.maxSteps, res.residual, cfg.tol)
	}
	return nil
}
