package tcp

import (
	"sync/atomic"
	"testing"
	"time"
)

// takingOver reports whether a ReadUntil caller waits for the receive
// goroutine to let go of p's read role.
func takingOver(p *pair) bool { return p.handover.Load() > 0 }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after 10 s: %s", what)
		}
	}
}

// A ReadUntil caller that takes a link over from the receive goroutine
// waits for that goroutine only. If another goroutine gets the role first
// (a direct reader, which keeps it until its own request is done, and that
// may need the caller to go on: the next round of a collective), the
// caller returns at once to wait another way; if its condition comes true
// meanwhile (the receive goroutine delivered its frame), it returns done.
// It used to wait for the role whoever held it: issue 12's hang of
// non-blocking collectives over tcp.
func TestTakeOverWaitsForNobodyElse(t *testing.T) {
	_, p10 := standbyWorld(t)
	// This test holds the role, posing as the receive goroutine.
	p10.rmu.Lock()
	p10.bgHolds.Store(true)

	res := make(chan bool, 1)
	go func() { res <- p10.ReadUntil(func() bool { return false }) }()
	waitFor(t, "ReadUntil never asked for the link", func() bool { return takingOver(p10) })
	// The receive goroutine lets go, and a direct reader (still us) takes
	// the role at once and keeps it.
	p10.bgHolds.Store(false)
	select {
	case ok := <-res:
		if ok {
			t.Fatal("ReadUntil reported reading a link another goroutine holds")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadUntil still waiting 10 s for a link a direct reader holds")
	}

	var done atomic.Bool
	p10.bgHolds.Store(true)
	go func() { res <- p10.ReadUntil(done.Load) }()
	waitFor(t, "ReadUntil never asked for the link", func() bool { return takingOver(p10) })
	done.Store(true)
	select {
	case ok := <-res:
		if !ok {
			t.Fatal("ReadUntil refused, though its condition came true")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadUntil still waiting 10 s for the link after its condition came true")
	}
	if takingOver(p10) {
		t.Fatal("a caller that gave up still counts as taking the link over")
	}
	p10.bgHolds.Store(false)
	p10.rmu.Unlock()
}

// A receive goroutine that wanted to read for a demand but found the read
// role held, by a poll here, sleeps until the holder kicks it: a poll that
// lets go while there is demand must, or frames would wait in the kernel
// for the next poll with a goroutine asleep waiting for them.
func TestPollHandsTheLinkToDemand(t *testing.T) {
	w, p10 := standbyWorld(t)
	e01 := w.ep(t, 0, 1)
	p10.rmu.Lock() // held, as by a poll
	w.trs[1].Demand(1)
	defer w.trs[1].Demand(-1)
	// The receive goroutine wakes to the demand, finds the role held and
	// sleeps again; give it the time to.
	time.Sleep(50 * time.Millisecond)
	p10.rmu.Unlock()
	w.trs[1].Poll() // a poll that finds nothing and lets go
	if err := send(e01, 0, 7, 0, payloadFor(0)); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, w.recs[1].WaitFrames(t, 1, 10*time.Second), 1)
}
