package comm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Many ranks on one node over shared memory: a token ring and Allreduce,
// checked on every rank. Shared memory once reserved N rings per rank
// (N² in all) and polled every one of them.
func TestLaunchedManyRanksShm(t *testing.T) {
	const ranks = 64
	out, err := mpxRun(t, 4*time.Minute, "-n", fmt.Sprint(ranks), "--oversubscribe", "--timeout", "200s",
		"--param", "transport=shm", "./testdata/ringreduce", "-rounds", "3", "-count", "1000")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := fmt.Sprintf("ringreduce: %d ranks, 3 rounds of 1000 elements: ok", ranks); !strings.Contains(out, want) {
		t.Fatalf("no %q in:\n%s", want, out)
	}
}

// BenchmarkLaunchedRingReduce times the ring + Allreduce job over shm and
// over tcp, alternately in the same run, with many ranks on this node, and
// reports the median seconds per job of each and their ratio (shm/tcp:
// below 1, shared memory is the faster).
//
//	go test -run '^$' -bench LaunchedRingReduce -benchtime 3x ./comm
func BenchmarkLaunchedRingReduce(b *testing.B) {
	for _, ranks := range []int{128, 256} {
		b.Run(fmt.Sprintf("ranks=%d", ranks), func(b *testing.B) {
			var shm, tcp []float64
			for i := 0; i < b.N; i++ {
				for _, tr := range []string{"shm", "tcp"} {
					start := time.Now()
					out, err := mpxRunB(b, 10*time.Minute, "-n", fmt.Sprint(ranks), "--oversubscribe", "--timeout", "500s",
						"--param", "transport="+tr, "./testdata/ringreduce")
					if err != nil || !strings.Contains(out, "ringreduce: "+fmt.Sprint(ranks)+" ranks") {
						b.Fatalf("%s: %v\n%s", tr, err, out)
					}
					d := time.Since(start).Seconds()
					if tr == "shm" {
						shm = append(shm, d)
					} else {
						tcp = append(tcp, d)
					}
				}
			}
			ms, mt := jobMedian(shm), jobMedian(tcp)
			b.ReportMetric(ms, "shm-s/job")
			b.ReportMetric(mt, "tcp-s/job")
			b.ReportMetric(ms/mt, "shm/tcp")
		})
	}
}

func jobMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// mpxRunB is mpxRun for a benchmark: MPX_BIN, or an mpx built for it.
func mpxRunB(b *testing.B, deadline time.Duration, args ...string) (string, error) {
	b.Helper()
	bin := os.Getenv("MPX_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "mpx")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/mpx").CombinedOutput(); err != nil {
			b.Fatalf("building mpx: %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"run"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		b.Fatalf("mpx run %s: still running after %v; output:\n%s", strings.Join(args, " "), deadline, out)
	}
	return string(out), err
}
