package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The OSU micro-benchmarks' layout: a 10-column size, 18-column figures
// with two decimals, a 12-column iteration count (osu_util.h FIELD_WIDTH
// and FLOAT_PRECISION). bench/mpi/osu_mpx.c prints the same.
const (
	sizeWidth  = 10
	fieldWidth = 18
	itersWidth = 12
)

// columns are the column titles of a test's table, the size column first
// (none for barrier).
func columns(t *Test) []string {
	switch {
	case t.Name == "barrier":
		return []string{"Avg Latency(us)", "Min Latency(us)", "Max Latency(us)", "Iterations"}
	case t.Family == FamilyLatency:
		return []string{"Size", "Latency (us)"}
	case t.MessageRate:
		return []string{"Size", "MB/s", "Messages/s"}
	case t.Family == FamilyBandwidth:
		return []string{"Size", "Bandwidth (MB/s)"}
	}
	return []string{"Size", "Avg Latency(us)", "Min Latency(us)", "Max Latency(us)", "Iterations"}
}

// Heading is the title line, e.g. "# OSU-style MPX Latency Test"; the
// transport level says "MPX Transport".
func Heading(impl, level string, t *Test) string {
	who := "MPX"
	switch {
	case level == LevelMPI || impl != "mpx":
		who = "MPI"
	case level == LevelTransport:
		who = "MPX Transport"
	}
	return "# OSU-style " + who + " " + t.Title
}

// WriteOSU prints r in the OSU layout: the title, a few "# key: value"
// lines that say what ran, the column header and one line per size.
func WriteOSU(w io.Writer, r *Result) error {
	t, err := Lookup(r.Test)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, Heading(r.Impl, r.Level, t))
	if r.Meta.Version != "" {
		fmt.Fprintf(bw, "# version: %s\n", r.Meta.Version)
	}
	if r.Meta.MPIVersion != "" {
		fmt.Fprintf(bw, "# library: %s\n", r.Meta.MPIVersion)
	}
	if r.Ranks > 0 {
		fmt.Fprintf(bw, "# ranks: %d\n", r.Ranks)
	}
	if len(r.Meta.Transports) > 0 {
		fmt.Fprintf(bw, "# transports: %s\n", strings.Join(r.Meta.Transports, ","))
	}
	WriteOSUHeader(bw, t)
	for _, row := range r.Rows {
		WriteOSURow(bw, t, row)
	}
	return bw.Flush()
}

// WriteOSUHeader prints the column header line.
func WriteOSUHeader(w io.Writer, t *Test) {
	cols := columns(t)
	if cols[0] == "Size" {
		fmt.Fprintf(w, "%-*s", sizeWidth, "# Size")
		cols = cols[1:]
	} else {
		fmt.Fprintf(w, "# %s", cols[0])
		cols = cols[1:]
	}
	for _, c := range cols {
		width := fieldWidth
		if c == "Iterations" {
			width = itersWidth
		}
		fmt.Fprintf(w, "%*s", width, c)
	}
	fmt.Fprintln(w)
}

// WriteOSURow prints one size's line.
func WriteOSURow(w io.Writer, t *Test, row Row) {
	switch {
	case t.Name == "barrier":
		fmt.Fprintf(w, "%*.2f%*.2f%*.2f%*d\n", fieldWidth-1, row.Value, fieldWidth, row.Min, fieldWidth, row.Max, itersWidth, row.Iters)
	case t.Family == FamilyCollective:
		fmt.Fprintf(w, "%-*d%*.2f%*.2f%*.2f%*d\n", sizeWidth, row.Size, fieldWidth, row.Value, fieldWidth, row.Min, fieldWidth, row.Max, itersWidth, row.Iters)
	case t.MessageRate:
		fmt.Fprintf(w, "%-*d%*.2f%*.2f\n", sizeWidth, row.Size, fieldWidth, row.Value, fieldWidth, row.Rate)
	default:
		fmt.Fprintf(w, "%-*d%*.2f\n", sizeWidth, row.Size, fieldWidth, row.Value)
	}
}

var headingRE = regexp.MustCompile(`^# OSU-style (MPX Transport|MPX|MPI) (.+)$`)

// ParseOSU reads a table printed by WriteOSU or by the C port: the title
// line names the test, "# key: value" lines give the ranks, the versions
// and the transports, and every other non-comment line is one size.
func ParseOSU(rd io.Reader) (*Result, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var r *Result
	var t *Test
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			if r != nil {
				return nil, fmt.Errorf("line %d: a second table starts", n)
			}
			if t = byTitle(m[2]); t == nil {
				return nil, fmt.Errorf("line %d: unknown test title %q", n, m[2])
			}
			r = &Result{Test: t.Name, Unit: t.Unit(), Impl: "mpx", Level: LevelComm}
			switch m[1] {
			case "MPI":
				r.Impl, r.Level = "mpi", LevelMPI
			case "MPX Transport":
				r.Level = LevelTransport
			}
			continue
		}
		if r == nil {
			if strings.HasPrefix(line, "#") {
				continue // OSU-style tools may print banners first
			}
			return nil, fmt.Errorf("line %d: %q before the \"# OSU-style\" title line", n, line)
		}
		if strings.HasPrefix(line, "#") {
			if err := parseKey(r, strings.TrimSpace(line[1:])); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			continue
		}
		row, err := parseRow(t, line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		r.Rows = append(r.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("no \"# OSU-style\" title line")
	}
	return r, nil
}

func parseKey(r *Result, s string) error {
	k, v, ok := strings.Cut(s, ": ")
	if !ok {
		return nil // the column header, or a free comment
	}
	v = strings.TrimSpace(v)
	switch k {
	case "ranks":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("ranks %q: want a positive integer", v)
		}
		r.Ranks = n
	case "version":
		r.Meta.Version = v
	case "library":
		r.Meta.MPIVersion = v
	case "transports":
		r.Meta.Transports = strings.Split(v, ",")
	}
	return nil
}

func parseRow(t *Test, line string) (Row, error) {
	f := strings.Fields(line)
	want := len(columns(t))
	if len(f) != want {
		return Row{}, fmt.Errorf("%q: want %d columns for %s, have %d", line, want, t.Name, len(f))
	}
	if t.Name == "barrier" {
		f = append([]string{"0"}, f...)
	}
	var row Row
	var err error
	if row.Size, err = strconv.Atoi(f[0]); err != nil || row.Size < 0 {
		return Row{}, fmt.Errorf("%q: size %q is not a non-negative integer", line, f[0])
	}
	nums := make([]float64, len(f)-1)
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Row{}, fmt.Errorf("%q: %q is not a non-negative number", line, s)
		}
		nums[i] = v
	}
	row.Value = nums[0]
	switch {
	case t.Family == FamilyCollective:
		row.Min, row.Max = nums[1], nums[2]
		if nums[3] != math.Trunc(nums[3]) || nums[3] > math.MaxInt32 {
			return Row{}, fmt.Errorf("%q: iterations %q is not an integer", line, f[4])
		}
		row.Iters = int(nums[3])
	case t.MessageRate:
		row.Rate = nums[1]
	}
	return row, nil
}
