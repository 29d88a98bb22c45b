package tcp_test

import (
	"crypto/rand"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/tcp"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// maker makes tcp transports on loopback sharing a fresh job secret.
func maker(t testing.TB, hs []transport.Handler) []transport.Transport {
	secret := make([]byte, 32)
	rand.Read(secret)
	trs := make([]transport.Transport, len(hs))
	for i, h := range hs {
		tr, err := tcp.New(tcp.Config{Rank: i, Size: len(hs), Secret: secret, Handler: h, Iface: "lo", Logf: t.Logf})
		if err != nil {
			t.Fatalf("rank %d: %v", i, err)
		}
		t.Cleanup(func() { tr.Close() })
		trs[i] = tr
	}
	return trs
}

func TestConformance(t *testing.T) { transporttest.Run(t, maker) }
