package p2p

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport/tcp"
)

// tcpWorld is n engines in this process joined by tcp transports on
// loopback that stand by, so every wait reads its links itself.
func tcpWorld(t *testing.T, n int) []*Engine {
	t.Helper()
	secret := []byte("direct-test-secret")
	engs := make([]*Engine, n)
	trs := make([]*tcp.Transport, n)
	for i := range engs {
		i := i
		e, err := New(Config{Rank: i, Size: n, Resolve: func(peer int) (Peer, error) {
			ep, err := trs[i].Endpoint(peer, trs[peer].Address())
			if err != nil {
				return Peer{}, err
			}
			return Peer{EP: ep, Limits: trs[i].Limits()}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := tcp.New(tcp.Config{Rank: i, Size: n, Secret: secret, Handler: e, Iface: "lo"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.AddStandby(tr); err != nil {
			t.Fatal(err)
		}
		engs[i], trs[i] = e, tr
	}
	t.Cleanup(func() {
		for i := range engs {
			engs[i].Close()
			trs[i].Close()
		}
	})
	return engs
}

func fill(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// run runs fn for every rank on its own goroutine and fails the test if
// they do not all return within d.
func run(t *testing.T, engs []*Engine, d time.Duration, fn func(e *Engine) error) {
	t.Helper()
	errs := make(chan error, len(engs))
	var wg sync.WaitGroup
	for _, e := range engs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(e); err != nil {
				errs <- fmt.Errorf("rank %d: %w", e.Rank(), err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("ranks still running after %v", d)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func sendWait(e *Engine, dst, tag int, buf []byte) error {
	r := NewRequest()
	defer Release(r)
	if err := e.Isend(r, 0, dst, tag, buf); err != nil {
		return err
	}
	_, err := r.Wait()
	return err
}

func recvWait(e *Engine, src, tag int, buf []byte) (Status, error) {
	r := NewRequest()
	defer Release(r)
	if err := e.Irecv(r, 0, src, tag, buf); err != nil {
		return Status{}, err
	}
	return r.Wait()
}

// Ping-pong of eager and rendezvous sizes: each wait reads its peer's link
// itself, and rendezvous steps run on the waiting goroutine.
func TestDirectPingPong(t *testing.T) {
	engs := tcpWorld(t, 2)
	for _, size := range []int{0, 8, 64 << 10, 64<<10 + 1, 1 << 20, 5 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			run(t, engs, time.Minute, func(e *Engine) error {
				peer := 1 - e.Rank()
				buf := make([]byte, size)
				for i := 0; i < 20; i++ {
					want := fill(size, i)
					if e.Rank() == 0 {
						if err := sendWait(e, peer, i, want); err != nil {
							return err
						}
					}
					st, err := recvWait(e, peer, i, buf)
					if err != nil {
						return err
					}
					if st.Bytes != size || !bytes.Equal(buf, want) {
						return fmt.Errorf("round %d: got %d bytes, wrong payload or size", i, st.Bytes)
					}
					if e.Rank() == 1 {
						if err := sendWait(e, peer, i, buf); err != nil {
							return err
						}
					}
				}
				return nil
			})
		})
	}
}

// Three ranks each send large and small messages to both others at once
// and receive them from any source, probing and testing as they go: waits
// without a single peer, blocked writes and receive goroutines on demand.
func TestDirectAllToAllAnySource(t *testing.T) {
	engs := tcpWorld(t, 3)
	sizes := []int{3, 70 << 10, 3 << 20}
	run(t, engs, 2*time.Minute, func(e *Engine) error {
		var sends []*Request
		for _, dst := range []int{(e.Rank() + 1) % 3, (e.Rank() + 2) % 3} {
			for k, n := range sizes {
				r := NewRequest()
				if err := e.Isend(r, 0, dst, k, fill(n, e.Rank()*10+k)); err != nil {
					return err
				}
				sends = append(sends, r)
			}
		}
		// Test-driven progress for the first message, Probe for the
		// second, plain waits for the rest.
		got := map[[2]int]bool{}
		for i := 0; i < 2*len(sizes); i++ {
			buf := make([]byte, 3<<20)
			r := NewRequest()
			switch i {
			case 1:
				if _, err := e.Probe(0, AnySource, AnyTag); err != nil {
					return err
				}
			}
			if err := e.Irecv(r, 0, AnySource, AnyTag, buf); err != nil {
				return err
			}
			if i == 0 {
				deadline := time.Now().Add(time.Minute)
				for !r.Done() {
					if time.Now().After(deadline) {
						return fmt.Errorf("Test never saw the first receive complete")
					}
				}
			}
			st, err := r.Wait()
			Release(r)
			if err != nil {
				return err
			}
			if st.Tag < 0 || st.Tag >= len(sizes) || st.Bytes != sizes[st.Tag] || !bytes.Equal(buf[:st.Bytes], fill(st.Bytes, st.Source*10+st.Tag)) {
				return fmt.Errorf("message from %d tag %d: %d bytes, wrong size or payload", st.Source, st.Tag, st.Bytes)
			}
			key := [2]int{st.Source, st.Tag}
			if got[key] {
				return fmt.Errorf("message from %d tag %d received twice", st.Source, st.Tag)
			}
			got[key] = true
		}
		for _, r := range sends {
			if _, err := r.Wait(); err != nil {
				return err
			}
			Release(r)
		}
		return nil
	})
}

// Both ranks send 8 MiB to each other before either receives: each
// rendezvous push blocks on a full socket while the other side's does too,
// and both must complete.
func TestDirectExchange(t *testing.T) {
	engs := tcpWorld(t, 2)
	const size = 8 << 20
	run(t, engs, time.Minute, func(e *Engine) error {
		peer := 1 - e.Rank()
		for i := 0; i < 3; i++ {
			s, r := NewRequest(), NewRequest()
			buf := make([]byte, size)
			if err := e.Isend(s, 0, peer, i, fill(size, e.Rank()+i)); err != nil {
				return err
			}
			if err := e.Irecv(r, 0, peer, i, buf); err != nil {
				return err
			}
			if _, err := s.Wait(); err != nil {
				return err
			}
			if _, err := r.Wait(); err != nil {
				return err
			}
			if !bytes.Equal(buf, fill(size, peer+i)) {
				return fmt.Errorf("round %d: wrong payload", i)
			}
			Release(s)
			Release(r)
		}
		return nil
	})
}
