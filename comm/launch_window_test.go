package comm_test

import (
	"strings"
	"testing"
	"time"
)

// Window semantics between processes: over shared memory, where Put and
// Get use cross-memory attach, and emulated over TCP and over shared
// memory, and with TCP carrying only what cross-memory attach cannot
// (accumulates, locks), with the 64 MiB transfer.
func TestLaunchedWindow(t *testing.T) {
	for _, tc := range []struct {
		name, transport, backend, want string
	}{
		{"shm/cma", "shm", "auto", "cma"},
		{"shm/emulated", "shm", "emulate", "emulated"},
		{"tcp/emulated", "tcp", "emulate", "emulated"},
		{"tcp/cma", "tcp", "auto", "cma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := mpxRun(t, 4*time.Minute, "-n", "3", "--oversubscribe", "--timeout", "200s",
				"--param", "transport="+tc.transport, "--param", "rma_backend="+tc.backend,
				"./testdata/wincheck", "-large", "64m")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if want := "wincheck: 3 ranks, 9 checks over " + tc.want + ": ok"; !strings.Contains(out, want) {
				t.Fatalf("no %q in:\n%s", want, out)
			}
		})
	}
}
