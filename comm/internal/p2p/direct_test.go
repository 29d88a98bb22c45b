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
	if err := e.IsendBlocking(r, 0, dst, tag, buf); err != nil {
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

// settle drives e's links until cond holds.
func settle(t *testing.T, e *Engine, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("rank %d: %s: still not so after 30 s", e.Rank(), what)
		}
		e.poll()
		time.Sleep(100 * time.Microsecond)
	}
}

// Messages above the eager limit go eagerly while the receiver's credit
// lasts, and by rendezvous beyond it: the receiver never buffers more than
// the credit from one sender, order is kept across both protocols, and the
// credit comes back, by a Credit frame when the sender runs short and
// riding on eager frames otherwise.
func TestEagerCredit(t *testing.T) {
	engs := tcpWorld(t, 2)
	credit := engs[0].peerOf(t, 1).credit
	if credit != 4<<20 {
		t.Fatalf("tcp credit %d, want the tcp_eager_credit default of 4 MiB", credit)
	}
	const size, n = 1 << 20, 10
	e0, e1 := engs[0], engs[1]
	// A nonblocking send never goes on credit: it must not wait for the
	// receiver to read.
	r := NewRequest()
	if err := e0.Isend(r, 0, 1, 4, fill(size, 0)); err != nil {
		t.Fatal(err)
	}
	if r.done() || e0.used[1].Load() != 0 {
		t.Fatalf("a 1 MiB Isend went eagerly (done %v, credit used %d)", r.done(), e0.used[1].Load())
	}
	go func() {
		buf := make([]byte, size)
		recvWait(e1, 0, 4, buf)
	}()
	if _, err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	Release(r)

	// Rank 0 starts ten blocking sends, without waiting; rank 1, not
	// receiving yet, only drives its links (as any wait of its would), so
	// that writes that fill the socket complete.
	sends := make([]*Request, n)
	started := make(chan error, 1)
	go func() {
		for i := range sends {
			sends[i] = NewRequest()
			if err := e0.IsendBlocking(sends[i], 0, 1, 5, fill(size, i)); err != nil {
				started <- err
				return
			}
		}
		started <- nil
	}()
	unexpected := func() (msgs, buffered int) {
		e1.mu.Lock()
		defer e1.mu.Unlock()
		for _, m := range e1.queue(0).unexp {
			msgs++
			buffered += len(m.data)
		}
		return
	}
	settle(t, e1, "all ten messages announced", func() bool { m, _ := unexpected(); return m == n })
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	// Four fit the credit: they went eagerly and are buffered; the rest
	// arrived as requests to send and wait for their receives.
	if _, b := unexpected(); b != credit {
		t.Fatalf("receiver buffers %d bytes from one sender, want its credit %d", b, credit)
	}
	for i, r := range sends {
		if got, want := r.done(), i < credit/size; got != want {
			t.Fatalf("send %d done before any receive: %v, want %v", i, got, want)
		}
	}
	if got := e0.used[1].Load(); got != int64(credit) {
		t.Fatalf("credit used %d, want %d", got, credit)
	}
	recvs := make(chan error, 1)
	go func() {
		buf := make([]byte, size)
		for i := 0; i < n; i++ {
			if _, err := recvWait(e1, 0, 5, buf); err != nil {
				recvs <- err
				return
			}
			if !bytes.Equal(buf, fill(size, i)) {
				recvs <- fmt.Errorf("message %d out of order or corrupt", i)
				return
			}
		}
		recvs <- nil
	}()
	for _, r := range sends {
		if _, err := r.Wait(); err != nil {
			t.Fatal(err)
		}
		Release(r)
	}
	if err := <-recvs; err != nil {
		t.Fatal(err)
	}
	// The fourth message found the sender short (over half used): the
	// receiver sent the credit back on its own.
	settle(t, e0, "credit returned", func() bool { return e0.used[1].Load() == 0 })
	if got := e1.owed[0].Load(); got != 0 {
		t.Fatalf("receiver still owes %d", got)
	}

	// A 1 MiB ping-pong uses credit both ways and returns it on the
	// replies: no Credit frames, and the books balance at the end.
	run(t, engs, time.Minute, func(e *Engine) error {
		peer := 1 - e.Rank()
		buf := make([]byte, size)
		for i := 0; i < 8; i++ {
			if e.Rank() == 0 {
				if err := sendWait(e, peer, i, fill(size, i)); err != nil {
					return err
				}
			}
			if _, err := recvWait(e, peer, i, buf); err != nil {
				return err
			}
			if e.Rank() == 1 {
				if err := sendWait(e, peer, i, buf); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for a := 0; a < 2; a++ {
		b := 1 - a
		if used, owed := engs[a].used[b].Load(), engs[b].owed[a].Load(); used != owed || used > size {
			t.Errorf("rank %d has %d bytes of rank %d's credit out, rank %d owes %d: want equal, at most one message", a, used, b, b, owed)
		}
	}
}

func (e *Engine) peerOf(t *testing.T, rank int) *peerState {
	t.Helper()
	ps, err := e.peer(rank)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
