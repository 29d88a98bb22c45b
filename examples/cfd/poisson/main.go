// Command poisson solves the 3-D Poisson equation with a manufactured
// solution on a sequence of grids, decomposed over a 3-D Cartesian process
// grid, and checks second-order convergence and the exact discrete error of
// the 7-point Laplacian.
//
//	mpx run -n 4 ./examples/cfd/poisson -sizes 8,16,32,64 -out poisson-out
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mpx-hpc/mpx/comm"
)

type config struct {
	sizes []int   // intervals per direction, ascending
	tol   float64 // CG stops at ‖r‖ ≤ tol ‖f‖
	out   string  // directory for poisson_convergence.png ("" for none)
}

// Checks on the discrete solution.
const (
	ratioTol  = 1e-9 // |u_h/u - expected| at the centre node
	maxErrRel = 1e-6 // relative, the table's 7 significant digits
	orderLo   = 1.9
	orderHi   = 2.1
)

func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("poisson", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	sizes := fs.String("sizes", "8,16,32,64", "comma-separated intervals per direction (even, ascending)")
	fs.Float64Var(&cfg.tol, "tol", 1e-12, "CG relative residual tolerance")
	fs.StringVar(&cfg.out, "out", "", "directory for poisson_convergence.png (none if empty)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 4 || n%2 != 0 {
			return cfg, fmt.Errorf("-sizes: %q is not an even number of intervals ≥ 4", s)
		}
		if len(cfg.sizes) > 0 && n <= cfg.sizes[len(cfg.sizes)-1] {
			return cfg, fmt.Errorf("-sizes: %d does not follow %d in ascending order", n, cfg.sizes[len(cfg.sizes)-1])
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if len(cfg.sizes) < 2 {
		return cfg, fmt.Errorf("-sizes: need at least two grids for a convergence order, have %d", len(cfg.sizes))
	}
	if !(cfg.tol > 0) || cfg.tol >= 1e-6 {
		return cfg, fmt.Errorf("-tol %g: must lie in (0, 1e-6) to resolve the discretisation error", cfg.tol)
	}
	return cfg, nil
}

// result is the outcome on every rank.
type result struct {
	ranks  int
	dims   [3]int
	levels []level
	orders []float64 // log2(e_{k-1}/e_k) for each level after the first
	want   []*expected
	failed []string // checks that did not pass
}

func solve(c *comm.Comm, cfg config) (result, error) {
	table, err := expectedTable()
	if err != nil {
		return result{}, err
	}
	p, err := newPar(c)
	if err != nil {
		return result{}, err
	}
	res := result{ranks: p.size, dims: p.dims}
	for i, n := range cfg.sizes {
		lv, err := solveLevel(c, n, cfg.tol)
		if err != nil {
			return res, err
		}
		res.levels = append(res.levels, lv)
		var w *expected
		if e, ok := table[n]; ok {
			w = &e
			if d := math.Abs(lv.ratio - e.ratio); d > ratioTol {
				res.failed = append(res.failed, fmt.Sprintf("N=%d: u_h/u = %.12f, expected %.12f", n, lv.ratio, e.ratio))
			}
			if d := math.Abs(lv.maxErr-e.maxErr) / e.maxErr; d > maxErrRel {
				res.failed = append(res.failed, fmt.Sprintf("N=%d: max error %.6e, expected %.6e", n, lv.maxErr, e.maxErr))
			}
		}
		res.want = append(res.want, w)
		if i > 0 {
			prev := res.levels[i-1]
			order := math.Log(prev.maxErr/lv.maxErr) / math.Log(float64(n)/float64(prev.n))
			res.orders = append(res.orders, order)
			if !(order >= orderLo && order <= orderHi) {
				res.failed = append(res.failed, fmt.Sprintf("N=%d→%d: order %.4f outside [%g, %g]", prev.n, n, order, orderLo, orderHi))
			}
		}
	}
	return res, nil
}

func report(res result, w io.Writer) {
	fmt.Fprintf(w, "3-D Poisson -∇²u = 3π² sin πx sin πy sin πz, 7-point Laplacian, CG; %d ranks (%d×%d×%d)\n",
		res.ranks, res.dims[0], res.dims[1], res.dims[2])
	fmt.Fprintf(w, "%5s %10s %6s %14s %14s %16s %16s %7s\n", "N", "h", "CG its", "max error", "expected", "u_h/u centre", "expected", "order")
	for i, lv := range res.levels {
		exp, expRatio, order := "-", "-", "-"
		if e := res.want[i]; e != nil {
			exp, expRatio = fmt.Sprintf("%.6e", e.maxErr), fmt.Sprintf("%.12f", e.ratio)
		}
		if i > 0 {
			order = fmt.Sprintf("%.4f", res.orders[i-1])
		}
		fmt.Fprintf(w, "%5d %10.6f %6d %14.6e %14s %16.12f %16s %7s\n", lv.n, 1/float64(lv.n), lv.iterations, lv.maxErr, exp, lv.ratio, expRatio, order)
	}
	if len(res.failed) == 0 {
		fmt.Fprintf(w, "PASSED: discrete errors match the table (u_h/u within %.0e), orders within [%g, %g]\n", ratioTol, orderLo, orderHi)
		return
	}
	for _, f := range res.failed {
		fmt.Fprintln(w, "FAILED:", f)
	}
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "poisson:", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "poisson:", err)
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
	report(res, stdout)
	if cfg.out != "" {
		if err := os.MkdirAll(cfg.out, 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		if err := plotConvergence(filepath.Join(cfg.out, "poisson_convergence.png"), res); err != nil {
			return err
		}
	}
	if len(res.failed) > 0 {
		return fmt.Errorf("%d checks failed", len(res.failed))
	}
	return nil
}
