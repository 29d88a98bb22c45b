package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/mpx-hpc/mpx/param"
	mpxrt "github.com/mpx-hpc/mpx/runtime"
)

// Level names where a measurement is taken.
const (
	LevelComm      = "comm"      // through comm: matching, eager/rendezvous
	LevelTransport = "transport" // bare frames on transport endpoints
	LevelMPI       = "mpi"       // the C port under an installed MPI
)

// Row is one message size's figures.
type Row struct {
	Size int `json:"size"`
	// Value is the main figure: latency in microseconds (the average over
	// ranks for collectives) or bandwidth in MB/s (10^6 bytes/s, as OSU).
	Value float64 `json:"value"`
	// Min and Max over ranks, collectives only.
	Min float64 `json:"min,omitempty"`
	Max float64 `json:"max,omitempty"`
	// Rate is messages per second (mbw_mr).
	Rate float64 `json:"messages_per_s,omitempty"`
	// Iters is the number of timed iterations.
	Iters int `json:"iterations,omitempty"`
}

// Result is one run of one test, with what it takes to reproduce it.
type Result struct {
	Test  string `json:"test"`
	Level string `json:"level"`
	// Impl is who ran it: "mpx", or the MPI's name ("Open MPI").
	Impl  string  `json:"impl"`
	Unit  string  `json:"unit"`
	Ranks int     `json:"ranks"`
	Rows  []Row   `json:"rows"`
	Opts  Options `json:"options"`
	Meta  Meta    `json:"meta"`
}

// Meta is what reproduces a result.
type Meta struct {
	Command    []string          `json:"command,omitempty"`
	Params     map[string]string `json:"params,omitempty"` // parameters that differ from their defaults
	Version    string            `json:"mpx_version"`
	MPIVersion string            `json:"mpi_version,omitempty"`
	Transports []string          `json:"transports,omitempty"`
	Machine    Machine           `json:"machine"`
	Date       time.Time         `json:"date"`
}

// Machine describes where a result was measured.
type Machine struct {
	Host   string `json:"host"`
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Go     string `json:"go"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	host, _ := os.Hostname()
	return Machine{
		Host:   host,
		CPU:    cpuModel(),
		Cores:  goruntime.NumCPU(),
		Kernel: kernel(),
		OS:     goruntime.GOOS,
		Arch:   goruntime.GOARCH,
		Go:     goruntime.Version(),
	}
}

// Version is mpx's version with the build's VCS revision when the
// toolchain recorded one ("+dirty" for a modified tree).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return mpxrt.Version
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return mpxrt.Version
	}
	return mpxrt.Version + " (" + rev[:min(len(rev), 12)] + dirty + ")"
}

// ChangedParams lists the parameters whose values differ from their
// defaults, the ones a reproduction must set.
func ChangedParams() map[string]string {
	m := map[string]string{}
	for _, in := range param.All() {
		if in.Value != in.Default {
			m[in.Name] = in.Value
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// NewMeta fills a Meta for a run started now by this process.
func NewMeta(command []string, transports []string) Meta {
	return Meta{
		Command:    command,
		Params:     ChangedParams(),
		Version:    Version(),
		Transports: transports,
		Machine:    ThisMachine(),
		Date:       time.Now().UTC().Truncate(time.Second),
	}
}

// WriteJSON writes v (a *Result or a *Comparison) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// File is what a JSON result file holds: a single result or a comparison.
type File struct {
	Result     *Result
	Comparison *Comparison
}

// DecodeFile reads a JSON file written by WriteJSON, telling a comparison
// from a single result by its "mpx_runs" field.
func DecodeFile(data []byte) (File, error) {
	var probe struct {
		Test string          `json:"test"`
		Runs json.RawMessage `json:"mpx_runs"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return File{}, fmt.Errorf("not an mpx bench result: %w", err)
	}
	if _, err := Lookup(probe.Test); err != nil {
		return File{}, fmt.Errorf("not an mpx bench result: %w", err)
	}
	if probe.Runs != nil {
		var c Comparison
		if err := json.Unmarshal(data, &c); err != nil {
			return File{}, fmt.Errorf("comparison: %w", err)
		}
		if err := c.check(); err != nil {
			return File{}, err
		}
		return File{Comparison: &c}, nil
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return File{}, fmt.Errorf("result: %w", err)
	}
	if err := r.check(); err != nil {
		return File{}, err
	}
	return File{Result: &r}, nil
}

// ReadFile reads a JSON result or comparison file.
func ReadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	f, err := DecodeFile(data)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (r *Result) check() error {
	for i, row := range r.Rows {
		if row.Size < 0 {
			return fmt.Errorf("result %s row %d: negative size %d", r.Test, i, row.Size)
		}
	}
	return nil
}

// WriteCSV writes the rows with a header naming the columns, one line per
// size: test, impl, level, ranks, size, value, unit, min, max, messages/s,
// iterations.
func WriteCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"test", "impl", "level", "ranks", "size", "value", "unit", "min", "max", "messages_per_s", "iterations"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, row := range r.Rows {
		cw.Write([]string{r.Test, r.Impl, r.Level, strconv.Itoa(r.Ranks), strconv.Itoa(row.Size),
			f(row.Value), r.Unit, f(row.Min), f(row.Max), f(row.Rate), strconv.Itoa(row.Iters)})
	}
	cw.Flush()
	return cw.Error()
}
