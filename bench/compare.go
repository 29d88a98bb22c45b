package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Comparison is the same test run alternately through mpx and an installed
// MPI, with the median of each side per size.
type Comparison struct {
	Test      string `json:"test"`
	Unit      string `json:"unit"`
	Ranks     int    `json:"ranks"`
	Transport string `json:"transport"`
	Repeat    int    `json:"repeat"`
	// MPIName is the MPI's family ("Open MPI", "MPICH").
	MPIName string `json:"mpi_name"`
	// RatioLabel says which way the ratio goes: "mpx/MPI" for latency,
	// "MPI/mpx" for bandwidth, so that above 1 always means mpx is slower.
	RatioLabel string       `json:"ratio_label"`
	Rows       []CompareRow `json:"rows"`
	MPXRuns    []*Result    `json:"mpx_runs"`
	MPIRuns    []*Result    `json:"mpi_runs"`
	Meta       Meta         `json:"meta"`
}

// CompareRow is one size: the medians of both sides and their ratio (zero
// when the divisor is zero).
type CompareRow struct {
	Size  int     `json:"size"`
	MPX   float64 `json:"mpx"`
	MPI   float64 `json:"mpi"`
	Ratio float64 `json:"ratio"`
}

// Median is the middle value of xs (the mean of the two middle ones for an
// even count); NaN for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Ratio is how many times slower mpx is: mpx/MPI for latency, MPI/mpx for
// bandwidth; zero when the divisor is zero.
func Ratio(t *Test, mpx, mpi float64) float64 {
	num, den := mpx, mpi
	if t.HigherIsBetter() {
		num, den = mpi, mpx
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// RatioLabel names the ratio's direction for t.
func RatioLabel(t *Test) string {
	if t.HigherIsBetter() {
		return "MPI/mpx"
	}
	return "mpx/MPI"
}

// Merge computes the per-size medians and ratios from the runs of both
// sides, keeping the sizes that every run measured.
func Merge(t *Test, mpxRuns, mpiRuns []*Result) ([]CompareRow, error) {
	if len(mpxRuns) == 0 || len(mpiRuns) == 0 {
		return nil, fmt.Errorf("compare %s: need runs of both sides, have %d mpx and %d MPI", t.Name, len(mpxRuns), len(mpiRuns))
	}
	all := append(append([]*Result(nil), mpxRuns...), mpiRuns...)
	count := map[int]int{}
	for _, r := range all {
		if r.Test != t.Name {
			return nil, fmt.Errorf("compare %s: a run measured %s", t.Name, r.Test)
		}
		seen := map[int]bool{}
		for _, row := range r.Rows {
			if !seen[row.Size] {
				seen[row.Size] = true
				count[row.Size]++
			}
		}
	}
	var sizes []int
	for s, c := range count {
		if c == len(all) {
			sizes = append(sizes, s)
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("compare %s: no message size was measured by every run", t.Name)
	}
	sort.Ints(sizes)
	values := func(runs []*Result, size int) []float64 {
		var v []float64
		for _, r := range runs {
			for _, row := range r.Rows {
				if row.Size == size {
					v = append(v, row.Value)
					break
				}
			}
		}
		return v
	}
	rows := make([]CompareRow, len(sizes))
	for i, s := range sizes {
		a, b := Median(values(mpxRuns, s)), Median(values(mpiRuns, s))
		rows[i] = CompareRow{Size: s, MPX: a, MPI: b, Ratio: Ratio(t, a, b)}
	}
	return rows, nil
}

func (c *Comparison) check() error {
	t, err := Lookup(c.Test)
	if err != nil {
		return err
	}
	for i, row := range c.Rows {
		if row.Size < 0 {
			return fmt.Errorf("comparison %s row %d: negative size %d", t.Name, i, row.Size)
		}
	}
	return nil
}

// WriteComparison prints one table: size, the mpx median, the MPI median
// and the ratio, under lines saying what was compared on what.
func WriteComparison(w io.Writer, c *Comparison) error {
	t, err := Lookup(c.Test)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	m := c.Meta.Machine
	fmt.Fprintf(bw, "# OSU-style MPX vs %s %s\n", c.MPIName, t.Title)
	fmt.Fprintf(bw, "# mpx: %s\n# MPI: %s\n", c.Meta.Version, c.Meta.MPIVersion)
	fmt.Fprintf(bw, "# transport: %s, ranks: %d, medians of %d alternating runs each\n", c.Transport, c.Ranks, c.Repeat)
	fmt.Fprintf(bw, "# machine: %s, %d cores, %s\n", m.CPU, m.Cores, m.Kernel)
	if len(c.Meta.Params) > 0 {
		var kv []string
		for k, v := range c.Meta.Params {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		fmt.Fprintf(bw, "# params: %s\n", strings.Join(kv, " "))
	}
	what := "Latency"
	if t.Family == FamilyCollective {
		what = "Avg Lat"
	}
	if t.HigherIsBetter() {
		what = "BW"
	}
	mpxCol := fmt.Sprintf("mpx %s(%s)", what, c.Unit)
	mpiCol := fmt.Sprintf("%s %s(%s)", shortName(c.MPIName), what, c.Unit)
	fmt.Fprintf(bw, "%-*s%*s%*s%*s\n", sizeWidth, "# Size", fieldWidth+4, mpxCol, fieldWidth+4, mpiCol, itersWidth, c.RatioLabel)
	for _, row := range c.Rows {
		den := row.MPI
		if t.HigherIsBetter() {
			den = row.MPX
		}
		ratio := "n/a" // Ratio is 0 by convention when its divisor is
		if den != 0 {
			ratio = fmt.Sprintf("%.2f", row.Ratio)
		}
		fmt.Fprintf(bw, "%-*d%*.2f%*.2f%*s\n", sizeWidth, row.Size, fieldWidth+4, row.MPX, fieldWidth+4, row.MPI, itersWidth, ratio)
	}
	return bw.Flush()
}

func shortName(mpi string) string {
	if mpi == "" {
		return "MPI"
	}
	return strings.ReplaceAll(mpi, " ", "")
}

// CompareConfig says what to compare.
type CompareConfig struct {
	Test      *Test
	Ranks     int
	Transport string // "shm" or "tcp"
	Repeat    int    // runs of each side; zero means 5
	Opts      Options
	MPI       *MPI
	// Exe is the built C port (MPI.Build).
	Exe string
	// RunMPX runs the mpx side once (mpx bench TEST --json in its own job).
	RunMPX func(ctx context.Context) (*Result, error)
	// Progress, when not nil, is called after each run.
	Progress func(done, total int)
}

// Compare runs both sides Repeat times each, alternating them (mpx first
// in even rounds, the MPI first in odd ones, so that drift in the machine's
// load falls on both), and merges the medians.
func Compare(ctx context.Context, cfg CompareConfig) (*Comparison, error) {
	if cfg.Repeat == 0 {
		cfg.Repeat = 5
	}
	if cfg.Repeat < 1 {
		return nil, fmt.Errorf("compare: repeat %d: want at least 1", cfg.Repeat)
	}
	if cfg.MPI == nil || cfg.RunMPX == nil || cfg.Exe == "" {
		return nil, fmt.Errorf("compare: an MPI, its built benchmark and the mpx runner are all needed")
	}
	t := cfg.Test
	c := &Comparison{Test: t.Name, Unit: t.Unit(), Ranks: cfg.Ranks, Transport: cfg.Transport,
		Repeat: cfg.Repeat, MPIName: cfg.MPI.Name, RatioLabel: RatioLabel(t)}
	runMPX := func() error {
		r, err := cfg.RunMPX(ctx)
		if err != nil {
			return fmt.Errorf("mpx side: %w", err)
		}
		c.MPXRuns = append(c.MPXRuns, r)
		return nil
	}
	runMPI := func() error {
		r, err := cfg.MPI.Run(ctx, cfg.Exe, t, cfg.Ranks, cfg.Transport, cfg.Opts)
		if err != nil {
			return fmt.Errorf("%s side: %w", cfg.MPI.Name, err)
		}
		c.MPIRuns = append(c.MPIRuns, r)
		return nil
	}
	for i := 0; i < cfg.Repeat; i++ {
		order := []func() error{runMPX, runMPI}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for j, run := range order {
			if err := run(); err != nil {
				return nil, err
			}
			if cfg.Progress != nil {
				cfg.Progress(2*i+j+1, 2*cfg.Repeat)
			}
		}
	}
	rows, err := Merge(t, c.MPXRuns, c.MPIRuns)
	if err != nil {
		return nil, err
	}
	c.Rows = rows
	return c, nil
}
