package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// findMPI fails the test, saying what to install, when no MPI is found:
// CI installs one (testdata/install-mpi.sh), so its absence is an error.
func findMPI(t *testing.T) *MPI {
	t.Helper()
	m, err := FindMPI(t.Context(), "", "")
	if err != nil {
		t.Fatalf("the MPI comparison needs an installed MPI (run bench/testdata/install-mpi.sh): %v", err)
	}
	return m
}

// The C port builds with the installed mpicc (once, then from the cache),
// runs under its mpirun over each transport, its output parses into the
// expected structure, and a short comparison runs for real.
func TestMPI(t *testing.T) {
	m := findMPI(t)
	if m.Name == "" || m.Version == "" {
		t.Errorf("MPI without name or version: %+v", m)
	}
	dir := t.TempDir()
	exe, err := m.Build(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Build(t.Context(), dir)
	if err != nil || again != exe {
		t.Errorf("second build: %q, %v; want the cached %q", again, err, exe)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("cache holds %d entries, want the one binary", len(entries))
	}
	t.Run("run", func(t *testing.T) { testMPIRun(t, m, exe) })
	t.Run("compare", func(t *testing.T) { testCompare(t, m, exe) })
}

func testMPIRun(t *testing.T, m *MPI, exe string) {
	cases := []struct {
		test      string
		ranks     int
		transport string
	}{
		{"latency", 2, "shm"},
		{"mbw_mr", 2, "tcp"},
		{"allreduce", 3, "shm"},
	}
	for _, c := range cases {
		tt := mustTest(t, c.test)
		o := small(tt, 1<<10)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		r, err := m.Run(ctx, exe, tt, c.ranks, c.transport, o)
		cancel()
		if err != nil {
			t.Fatalf("%s over %s: %v", c.test, c.transport, err)
		}
		if r.Test != c.test || r.Ranks != c.ranks || r.Level != LevelMPI || r.Impl != m.Name {
			t.Errorf("%s: result header %+v", c.test, r)
		}
		if len(r.Rows) != len(o.Sizes()) {
			t.Errorf("%s: %d rows, want %d", c.test, len(r.Rows), len(o.Sizes()))
		}
		for _, row := range r.Rows {
			// Tiny bandwidths print as 0.00 MB/s; the message rate shows
			// that messages moved.
			if row.Value <= 0 && !(tt.MessageRate && row.Rate > 0) {
				t.Errorf("%s size %d: %v %s, %v messages/s", c.test, row.Size, row.Value, r.Unit, row.Rate)
			}
		}
		if r.Meta.MPIVersion != m.Version || r.Meta.Transports[0] != c.transport || !strings.Contains(strings.Join(r.Meta.Command, " "), exe) {
			t.Errorf("%s: meta %+v", c.test, r.Meta)
		}
	}
}

// testCompare runs a short comparison: the MPI side under mpirun, the mpx
// side on in-process ranks, alternating, merged into medians.
func testCompare(t *testing.T, m *MPI, exe string) {
	tt := mustTest(t, "latency")
	o := small(tt, 64)
	var order []string
	cmp, err := Compare(t.Context(), CompareConfig{
		Test: tt, Ranks: 2, Transport: "shm", Repeat: 2, Opts: o, MPI: m, Exe: exe,
		RunMPX: func(context.Context) (*Result, error) {
			order = append(order, "mpx")
			var r *Result
			err := commtest.Run(2, func(c *comm.Comm) error {
				res, err := Run(c, tt, o)
				if c.Rank() == 0 {
					r = res
				}
				return err
			})
			return r, err
		},
		Progress: func(done, total int) {
			if total != 4 {
				t.Errorf("progress total %d, want 4", total)
			}
			if len(order) < done {
				order = append(order, "mpi")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "mpx,mpi,mpi,mpx" {
		t.Errorf("run order %s, want alternation mpx,mpi,mpi,mpx", got)
	}
	if len(cmp.MPXRuns) != 2 || len(cmp.MPIRuns) != 2 {
		t.Fatalf("%d mpx and %d MPI runs, want 2 each", len(cmp.MPXRuns), len(cmp.MPIRuns))
	}
	if len(cmp.Rows) != len(o.Sizes()) || cmp.RatioLabel != "mpx/MPI" || cmp.MPIName != m.Name {
		t.Errorf("comparison %+v", cmp)
	}
	for _, row := range cmp.Rows {
		var mpx, mpi []float64
		for i := range 2 {
			mpx = append(mpx, cmp.MPXRuns[i].Rows[indexOf(cmp.MPXRuns[i], row.Size)].Value)
			mpi = append(mpi, cmp.MPIRuns[i].Rows[indexOf(cmp.MPIRuns[i], row.Size)].Value)
		}
		if row.MPX != Median(mpx) || row.MPI != Median(mpi) || row.Ratio != row.MPX/row.MPI {
			t.Errorf("size %d: row %+v from mpx %v and MPI %v", row.Size, row, mpx, mpi)
		}
	}
	png := filepath.Join(t.TempDir(), "cmp.png")
	if err := Plot(png, "compare", cmp.Series()); err != nil {
		t.Fatal(err)
	}
}

func indexOf(r *Result, size int) int {
	for i, row := range r.Rows {
		if row.Size == size {
			return i
		}
	}
	return -1
}
