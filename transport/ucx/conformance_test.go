//go:build ucx

package ucx

import (
	"crypto/rand"
	"os"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// tlsCases are the UCX transports the tests run over: UCX_TLS when set
// (scripts/test.sh runs the package once with tcp, once with sm), else
// both.
func tlsCases() []string {
	if v := os.Getenv("UCX_TLS"); v != "" {
		return []string{v}
	}
	return []string{"tcp", "sm"}
}

// maker makes ucx transports sharing a fresh job secret, over tls, on
// loopback only.
func maker(tls string, sc bool) transporttest.Maker {
	return func(t testing.TB, hs []transport.Handler) []transport.Transport {
		secret := make([]byte, 32)
		rand.Read(secret)
		trs := make([]transport.Transport, len(hs))
		for i, h := range hs {
			tr, err := New(Config{Rank: i, Size: len(hs), Secret: secret, Handler: h, TLS: tls, NetDevices: "lo", SingleCopy: &sc})
			if err != nil {
				t.Fatalf("rank %d: %v", i, err)
			}
			t.Cleanup(func() { tr.Close() })
			trs[i] = tr
		}
		return trs
	}
}

func TestConformance(t *testing.T) {
	for _, tls := range tlsCases() {
		t.Run(tls, func(t *testing.T) { transporttest.Run(t, maker(tls, true)) })
	}
}
