package comm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/comm/testdata/nbcstress/stress"
)

// Non-blocking collectives and point-to-point operations, several
// outstanding at once on several communicators, completed in random orders
// by Test, Wait, Waitall and Waitany, against a serial oracle (package
// stress): in process over mem and tcp, and between processes over shm and
// tcp. Each case has a fixed seed, printed; MPX_STRESS_SEED replaces it,
// to explore or to reproduce a failure.

func stressSeed(t *testing.T, seed uint64) uint64 {
	t.Helper()
	if s := os.Getenv("MPX_STRESS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MPX_STRESS_SEED=%q: not a seed: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (MPX_STRESS_SEED=%d reproduces)", seed, seed)
	return seed
}

func TestNonblockingStressMem(t *testing.T) {
	for n := 2; n <= 8; n++ {
		t.Run(fmt.Sprintf("%dranks", n), func(t *testing.T) {
			cfg := stress.Config{Seed: stressSeed(t, 100+uint64(n)), Iters: 15, MaxOps: 8}
			err := commtest.RunWith(n, commtest.Options{Timeout: time.Minute}, func(c *comm.Comm) error {
				_, err := stress.Run(c, cfg)
				return err
			})
			if err != nil {
				t.Fatalf("seed %d: %v", cfg.Seed, err)
			}
		})
	}
}

// runTCPJob runs fn on n ranks of an in-process job over tcp that stands
// by, failing the test if they do not all return within d.
func runTCPJob(t *testing.T, n int, d time.Duration, fn func(c *comm.Comm) error) {
	t.Helper()
	job, err := comm.NewTCPJobForTest(n)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = fn(job.Worlds[r])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		report := job.Report()
		job.Close() // ends the waits
		<-done
		t.Fatalf("%d ranks over tcp still running after %v; blocked in:\n%s", n, d, report)
	}
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

func TestNonblockingStressTCP(t *testing.T) {
	for _, tc := range []struct {
		n        int
		reported bool
		iters    int
	}{
		{3, true, 300}, // the report of issue 12, 3 ranks over tcp
		{2, false, 30},
		{3, false, 30},
		{5, false, 20},
		{8, false, 6},
	} {
		name := fmt.Sprintf("%dranks", tc.n)
		if tc.reported {
			name += "/reported"
		}
		t.Run(name, func(t *testing.T) {
			cfg := stress.Config{Seed: stressSeed(t, 7+uint64(tc.n)), Iters: tc.iters, MaxOps: 8, Reported: tc.reported}
			runTCPJob(t, tc.n, 30*time.Second, func(c *comm.Comm) error {
				_, err := stress.Run(c, cfg)
				return err
			})
		})
	}
}

var (
	stressOnce sync.Once
	stressBin  string
	stressErr  error
)

// stressProgram builds testdata/nbcstress once.
func stressProgram(t *testing.T) string {
	t.Helper()
	stressOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mpx-nbcstress-")
		if err != nil {
			stressErr = err
			return
		}
		stressBin = filepath.Join(dir, "nbcstress")
		if out, err := exec.Command("go", "build", "-o", stressBin, "./testdata/nbcstress").CombinedOutput(); err != nil {
			stressErr = &buildError{out: string(out), err: err}
		}
	})
	if stressErr != nil {
		t.Fatal(stressErr)
	}
	return stressBin
}

func TestLaunchedNonblockingStress(t *testing.T) {
	for _, tc := range []struct {
		transport string
		n         int
		args      []string
	}{
		{"tcp", 3, []string{"-reported", "-iters", "300"}},
		{"shm", 2, nil},
		{"tcp", 2, nil},
		{"shm", 3, nil},
		{"tcp", 3, nil},
		{"shm", 5, nil},
		{"tcp", 5, nil},
		{"shm", 8, nil},
		{"tcp", 8, nil},
	} {
		name := fmt.Sprintf("%s/%d", tc.transport, tc.n)
		if len(tc.args) > 0 {
			name += "/reported"
		}
		t.Run(name, func(t *testing.T) {
			seed := stressSeed(t, 11+uint64(tc.n))
			args := []string{"-n", strconv.Itoa(tc.n), "--oversubscribe", "--timeout", "40s",
				"--param", "transport=" + tc.transport, stressProgram(t), "-seed", strconv.FormatUint(seed, 10), "-iters", "20"}
			args = append(args, tc.args...)
			out, err := mpxRun(t, time.Minute, args...)
			if err != nil {
				t.Fatalf("seed %d: %v\n%s", seed, err, out)
			}
			want := fmt.Sprintf("nbcstress: %d ranks, seed %d, ", tc.n, seed)
			if !strings.Contains(out, want) || !strings.Contains(out, "checked: ok") {
				t.Fatalf("seed %d: no success line in:\n%s", seed, out)
			}
		})
	}
}
