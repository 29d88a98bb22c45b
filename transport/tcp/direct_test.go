package tcp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// payloadFor is frame seq's payload: sizes around the staging buffer and
// the direct-read threshold, contents that identify the frame.
func payloadFor(seq int) []byte {
	sizes := []int{0, 1, 47, 48, directMin - 1, directMin, readBufSize - 1, readBufSize + 5, 3*readBufSize + 7}
	b := make([]byte, sizes[seq%len(sizes)])
	for i := range b {
		b[i] = byte(seq*31 + i)
	}
	return b
}

func checkFrames(t *testing.T, frames []transporttest.Frame, n int) {
	t.Helper()
	if len(frames) != n {
		t.Fatalf("got %d frames, want %d", len(frames), n)
	}
	for i, f := range frames {
		if f.Header.Seq != uint64(i) || !bytes.Equal(f.Payload, payloadFor(i)) {
			t.Fatalf("frame %d: seq %d, %d payload bytes (want %d): wrong frame or payload", i, f.Header.Seq, len(f.Payload), len(payloadFor(i)))
		}
	}
}

// standbyWorld is two ranks on loopback whose transports stand by; edit
// may adjust their Configs.
func standbyWorld(t *testing.T, edit ...func(*Config)) (*world, *pair) {
	t.Helper()
	var ed func(*Config)
	if len(edit) > 0 {
		ed = edit[0]
	}
	w := newWorld(t, 2, newSecret(), ed)
	for i, tr := range w.trs {
		tr.Standby(time.Duration(i) * 50 * time.Microsecond) // one reader spins, one sleeps at once
	}
	w.ep(t, 0, 1)
	p := w.ep(t, 1, 0).(*pair)
	return w, p
}

// A standing-by transport delivers nothing until someone reads: then a
// goroutine reading the link itself gets every frame, whole and in order,
// whatever their sizes.
func TestReadUntil(t *testing.T) {
	w, p10 := standbyWorld(t)
	e01 := w.ep(t, 0, 1)
	const n = 40
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := send(e01, 0, 7, uint64(i), payloadFor(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	rec := w.recs[1]
	if !p10.ReadUntil(func() bool { return len(rec.Frames()) == n }) {
		t.Fatal("ReadUntil refused: nobody else reads the link")
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	checkFrames(t, rec.Frames(), n)

	// Frames that arrive with nobody reading stay in the kernel; a poll
	// delivers them without waiting.
	for i := n; i < n+3; i++ {
		if err := send(e01, 0, 7, uint64(i), payloadFor(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if got := len(rec.Frames()); got != n {
		t.Fatalf("%d frames delivered with nobody reading, want %d", got, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Frames()) < n+3 && time.Now().Before(deadline) {
		w.trs[1].Poll()
	}
	checkFrames(t, rec.Frames(), n+3)
	if v := rec.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

// Demand makes the receive goroutines read for a waiter that reads no
// link itself; once it is over, a direct reader takes the link back from
// a receive goroutine asleep on it.
func TestDemandAndTakeover(t *testing.T) {
	w, p10 := standbyWorld(t)
	e01 := w.ep(t, 0, 1)
	w.trs[1].Demand(1)
	for i := 0; i < 5; i++ {
		if err := send(e01, 0, 7, uint64(i), payloadFor(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.recs[1].WaitFrames(t, 5, 10*time.Second)
	// The receive goroutine now sleeps on the socket holding the role.
	deadline := time.Now().Add(10 * time.Second)
	for !p10.bgHolds.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !p10.bgHolds.Load() {
		t.Fatal("the receive goroutine never took the link while demanded")
	}
	w.trs[1].Demand(-1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		send(e01, 0, 7, 5, payloadFor(5))
	}()
	if !p10.ReadUntil(func() bool { return len(w.recs[1].Frames()) == 6 }) {
		t.Fatal("ReadUntil refused the link a receive goroutine held without demand")
	}
	checkFrames(t, w.recs[1].Frames(), 6)
}

// Interrupt wakes a direct reader asleep on a silent link so it checks its
// condition again.
func TestInterrupt(t *testing.T) {
	w, p10 := standbyWorld(t)
	var stop atomic.Bool
	returned := make(chan bool, 1)
	go func() { returned <- p10.ReadUntil(stop.Load) }()
	deadline := time.Now().Add(10 * time.Second)
	for !p10.parked.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	w.trs[1].Interrupt()
	select {
	case ok := <-returned:
		if !ok {
			t.Fatal("ReadUntil refused")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadUntil still asleep 10 s after Interrupt")
	}
	// A deadline left behind by Interrupt must not break the next reader.
	w.trs[1].Interrupt()
	e01 := w.ep(t, 0, 1)
	if err := send(e01, 0, 7, 0, payloadFor(0)); err != nil {
		t.Fatal(err)
	}
	p10.ReadUntil(func() bool { return len(w.recs[1].Frames()) == 1 })
	checkFrames(t, w.recs[1].Frames(), 1)
	if len(w.recs[1].Fails(0)) > 0 {
		t.Fatalf("link failed: %v", w.recs[1].Fails(0))
	}
}

// Two ranks writing far more than the socket buffers hold to each other,
// with nobody reading: a blocked write raises the demand, so each side's
// receive goroutine drains the other and both writes complete. A rank done
// writing then reads what is left itself, as a rank waiting would.
func TestCrossWritesStandby(t *testing.T) {
	w, _ := standbyWorld(t)
	const n, size = 12, 4 << 20
	payload := bytes.Repeat([]byte{0xa5}, size)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for r := 0; r < 2; r++ {
		e := w.ep(t, r, 1-r)
		rec := w.recs[r]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := send(e, r, 1, uint64(i), payload); err != nil {
					errs <- err
					return
				}
			}
			all := func() bool { return len(rec.Frames()) >= n }
			for !all() {
				if !e.(*pair).ReadUntil(all) {
					w.trs[r].Poll()
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("cross writes of 48 MiB each way still blocked after 60 s")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for r := 0; r < 2; r++ {
		frames := w.recs[r].Frames()
		if len(frames) != n {
			t.Fatalf("rank %d got %d frames, want %d", r, len(frames), n)
		}
		checkOrdered(t, r, frames)
	}
}

// A peer that goes away ends ReadUntil with the link failed; later calls
// refuse at once.
func TestReadUntilPeerGone(t *testing.T) {
	w, p10 := standbyWorld(t)
	go func() {
		time.Sleep(10 * time.Millisecond)
		w.trs[0].Close()
	}()
	if !p10.ReadUntil(func() bool { return false }) {
		t.Fatal("ReadUntil refused")
	}
	err := w.recs[1].WaitFail(t, 0, 10*time.Second)
	if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "connection closed by rank 0") {
		t.Fatalf("failure %q does not say rank 0 closed the connection", err)
	}
	if p10.ReadUntil(func() bool { return false }) {
		t.Fatal("ReadUntil read a broken link")
	}
}

// Sends of eager-sized frames to a standing-by peer that is not reading
// return at once, far beyond the socket buffers: what does not fit waits
// in the pair's queue, and reaches the peer whole and in order once it
// reads.
func TestQueuedSends(t *testing.T) {
	// Small socket buffers, so that the 3.2 MiB sent cannot all fit in
	// the kernel (and stays under the queue's bound).
	w, p10 := standbyWorld(t, func(c *Config) { c.SndBuf, c.RcvBuf = 64<<10, 64<<10 })
	e01 := w.ep(t, 0, 1)
	const n = 100
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			payload := bytes.Repeat([]byte{byte(i)}, 32<<10)
			if err := send(e01, 0, 3, uint64(i), payload); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sends to a peer that is not reading still blocked after 20 s")
	}
	rec := w.recs[1]
	p10.ReadUntil(func() bool { return len(rec.Frames()) == n })
	frames := rec.Frames()
	checkOrdered(t, 1, frames)
	for i, f := range frames {
		if len(f.Payload) != 32<<10 || f.Payload[0] != byte(i) || f.Payload[len(f.Payload)-1] != byte(i) {
			t.Fatalf("frame %d: wrong payload", i)
		}
	}
	// The flusher is done: nothing stays queued.
	p01 := e01.(*pair)
	deadline := time.Now().Add(10 * time.Second)
	for {
		p01.qmu.Lock()
		idle := !p01.flushing.Load() && p01.queued == 0
		p01.qmu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("flusher still busy 10 s after the peer read everything")
		}
		time.Sleep(time.Millisecond)
	}
}
