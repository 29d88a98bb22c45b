package shm

import (
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

var jobSeq atomic.Int64

// testJobID is unique per test and process, so parallel test binaries and
// leftovers of a crashed run never collide.
func testJobID() string {
	return fmt.Sprintf("t%d_%d", os.Getpid(), jobSeq.Add(1))
}

func testSecret() []byte {
	s := make([]byte, 32)
	rand.Read(s)
	return s
}

// maker makes shm transports for ranks of one job in this process.
func maker(t testing.TB, hs []transport.Handler) []transport.Transport {
	job, secret := testJobID(), testSecret()
	trs := make([]transport.Transport, len(hs))
	for i, h := range hs {
		tr, err := New(Config{Rank: i, Size: len(hs), JobID: job, Secret: secret, Handler: h, RingSize: 64 << 10})
		if err != nil {
			t.Fatalf("rank %d: %v", i, err)
		}
		t.Cleanup(func() { tr.Close() })
		trs[i] = tr
	}
	t.Cleanup(func() { checkNoResidue(t, job) })
	return trs
}

func TestConformance(t *testing.T) { transporttest.Run(t, maker) }
