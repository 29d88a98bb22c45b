//go:build ucx

package comm_test

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Ranks over the ucx transport (transport=ucx), built with -tags ucx, on
// UCX_TLS when set (scripts/test.sh runs tcp, then sm), else on each.
func TestLaunchedUCX(t *testing.T) {
	for _, tls := range ucxJob(t) {
		t.Run(tls, func(t *testing.T) {
			t.Setenv("UCX_TLS", tls)
			out, err := mpxRun(t, 3*time.Minute, "-n", "3", "--oversubscribe", "--timeout", "150s",
				"--param", "transport=ucx", "--param", "report_transports=true", "./testdata/p2pcheck", "-messages", "500")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "p2pcheck: 3 ranks, 500 messages checked: ok") {
				t.Fatalf("no success line in:\n%s", out)
			}
			for r := 0; r < 3; r++ {
				if !strings.Contains(out, "mpx: rank "+string(rune('0'+r))+" on node 0: self to itself; ucx (") {
					t.Errorf("rank %d does not report ucx to its peers:\n%s", r, out)
				}
			}
			out, err = mpxRun(t, 4*time.Minute, "-n", "3", "--oversubscribe", "--timeout", "200s",
				"--param", "transport=ucx", "./testdata/collcheck", "-counts", "0,1,7,1000,300000")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "collcheck: 3 ranks, 130 collective results checked: ok") {
				t.Fatalf("no success line in:\n%s", out)
			}
		})
	}
}

// ucxJob sets t's environment for launched jobs over ucx and returns the
// UCX_TLS values to run: the one set, else tcp and sm.
func ucxJob(t *testing.T) []string {
	tlss := []string{"tcp", "sm"}
	if v := os.Getenv("UCX_TLS"); v != "" {
		tlss = []string{v}
	}
	// The launcher builds the rank programs with the go command, which
	// reads GOFLAGS.
	t.Setenv("GOFLAGS", "-tags=ucx")
	t.Setenv("UCX_NET_DEVICES", "lo")
	return tlss
}
