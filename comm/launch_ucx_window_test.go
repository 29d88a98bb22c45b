//go:build ucx

package comm_test

import (
	"strings"
	"testing"
	"time"
)

// Window semantics between processes over the ucx transport, with Put and
// Get through UCX (ucp_put_nbx, ucp_get_nbx into the peer's registered
// window): chosen by default where ucx reaches the peer, and forced by
// rma_backend=ucx; on UCX_TLS when set, else on tcp and sm. The checks
// include the 64 MiB transfer, out-of-range access and use after Free.
func TestLaunchedUCXWindow(t *testing.T) {
	for _, tls := range ucxJob(t) {
		for _, backend := range []string{"auto", "ucx"} {
			t.Run(tls+"/"+backend, func(t *testing.T) {
				t.Setenv("UCX_TLS", tls)
				out, err := mpxRun(t, 4*time.Minute, "-n", "3", "--oversubscribe", "--timeout", "200s",
					"--param", "transport=ucx", "--param", "rma_backend="+backend,
					"./testdata/wincheck", "-large", "64m")
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if want := "wincheck: 3 ranks, 9 checks over ucx: ok"; !strings.Contains(out, want) {
					t.Fatalf("no %q in:\n%s", want, out)
				}
			})
		}
	}
}
