package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/bench"
)

// quick keeps the benchmark runs of these tests to a second or so.
var quick = []string{"-i", "20:5", "-x", "2:1"}

func benchArgs(args ...string) []string { return append(args, quick...) }

// rowRE is a line of an OSU table with a positive figure.
var rowRE = regexp.MustCompile(`(?m)^(\d+) +(\d+\.\d\d)`)

func TestBenchTables(t *testing.T) {
	cases := []struct {
		args   []string
		title  string
		header string
		rows   int
	}{
		{benchArgs("bench", "latency", "-n", "2", "-m", "0:64"), "# OSU-style MPX Latency Test", "# Size          Latency (us)", 8},
		{benchArgs("bench", "latency", "-n", "2", "-m", "0:64", "--transport", "tcp"), "# OSU-style MPX Latency Test", "# Size          Latency (us)", 8},
		{benchArgs("bench", "latency", "-n", "2", "-m", "1:64", "--level", "transport"), "# OSU-style MPX Transport Latency Test", "# Size          Latency (us)", 7},
		{benchArgs("bench", "allreduce", "-n", "4", "--oversubscribe", "-m", "4:256"), "# OSU-style MPX Allreduce Latency Test", "# Size       Avg Latency(us)   Min Latency(us)   Max Latency(us)  Iterations", 7},
	}
	for _, c := range cases {
		code, stdout, stderr := runMpx(t, c.args...)
		if code != 0 {
			t.Fatalf("mpx %v: exit %d\n%s", c.args, code, stderr)
		}
		lines := strings.Split(stdout, "\n")
		if lines[0] != c.title || !strings.Contains(stdout, "\n"+c.header+"\n") {
			t.Errorf("mpx %v printed\n%s", c.args, stdout)
		}
		if n := len(rowRE.FindAllString(stdout, -1)); n != c.rows {
			t.Errorf("mpx %v: %d rows, want %d:\n%s", c.args, n, c.rows, stdout)
		}
		if strings.Contains(stdout, "progress") || stderr != "" {
			t.Errorf("mpx %v piped: extra output\nstdout:\n%s\nstderr:\n%s", c.args, stdout, stderr)
		}
	}
}

func TestBenchJSONAndPlot(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "bw.svg")
	code, stdout, stderr := runMpx(t, benchArgs("bench", "bw", "-n", "2", "-m", "1:1k", "--json", "--plot", svg, "--param", "p2p_eager_limit=512")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var r bench.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if r.Test != "bw" || len(r.Rows) != 11 || r.Ranks != 2 || r.Meta.Params["p2p_eager_limit"] != "512" ||
		r.Meta.Machine.Cores < 1 || r.Meta.Version == "" || len(r.Meta.Command) == 0 || r.Opts.Iters != 20 {
		t.Errorf("result %+v", r)
	}
	data, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(data), ">mpx bw [shm]<") {
		t.Errorf("plot %s: %v\n%.300s", svg, err, data)
	}

	a := filepath.Join(dir, "a.json")
	if err := os.WriteFile(a, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cmp.png")
	code, _, stderr = runMpx(t, "bench", "plot", a, a, "-o", out, "--title", "two")
	if code != 0 {
		t.Fatalf("bench plot: exit %d\n%s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("bench plot wrote no PNG: %v", err)
	}

	code, stdout, _ = runMpx(t, benchArgs("bench", "mbw_mr", "-n", "4", "--oversubscribe", "-m", "8:8", "--csv")...)
	if code != 0 || !strings.HasPrefix(stdout, "test,impl,level,ranks,size,") || !strings.Contains(stdout, "\nmbw_mr,mpx,comm,4,8,") {
		t.Errorf("--csv: exit %d\n%s", code, stdout)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "latency", "-m", "64:8"}, "minimum 64 above maximum 8"},
		{[]string{"bench", "latency", "-i", "x"}, "-i"},
		{[]string{"bench", "allreduce", "--level", "transport"}, "latency and bw only"},
		{[]string{"bench", "latency", "--transport", "ib"}, "--transport"},
		{[]string{"bench", "mbw_mr", "-n", "3"}, "even number"},
		{[]string{"bench", "latency", "extra"}, "unexpected argument"},
		{[]string{"bench", "latency", "--json", "--csv"}, "exclude"},
		{[]string{"bench", "compare", "latency", "--transport", "auto"}, "want shm or tcp"},
		{[]string{"bench", "plot", "a.json"}, "-o OUT"},
	}
	for _, c := range cases {
		code, _, stderr := runMpx(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("mpx %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// A short comparison with the installed MPI for real. CI installs Open MPI
// (bench/testdata/install-mpi.sh); without it this fails and says so.
func TestBenchCompare(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "cmp.png")
	// Building the C port and four job starts take longer than runMpx's
	// 30 seconds on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpxBin, benchArgs("bench", "compare", "latency", "-n", "2", "-m", "0:16",
		"--repeat", "2", "--cache-dir", dir, "--plot", out)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("mpx bench compare: %v (is Open MPI installed? bench/testdata/install-mpi.sh)\n%s", err, se.String())
	}
	stdout := so.String()
	for _, want := range []string{"# OSU-style MPX vs ", "# MPI: ", "# transport: shm, ranks: 2, medians of 2 alternating runs each",
		"# machine: ", "mpx Latency(us)", "mpx/MPI"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("comparison lacks %q:\n%s", want, stdout)
		}
	}
	rows := regexp.MustCompile(`(?m)^(\d+) +\d+\.\d\d +\d+\.\d\d +(\d+\.\d\d|n/a)$`).FindAllString(stdout, -1)
	if len(rows) != 6 {
		t.Errorf("%d rows of size, mpx, MPI, ratio; want 6:\n%s", len(rows), stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("--plot wrote no PNG: %v", err)
	}
}
