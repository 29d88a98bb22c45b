package shm

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// sleeperState returns the scheduler state ("IO wait", "syscall", ...) of
// the goroutine asleep in Block, or "" if none is.
func sleeperState() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "shm.(*Transport).sleep(") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(head, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		return state
	}
	return ""
}

// A rank asleep in Block, with more local ranks than cores, waits in Go's
// network poller, as a TCP reader does, not in a futex syscall (which makes the runtime hand its P to
// another thread at every sleep); every way of waking it still works, with
// a second sleeper on the futex at the same time.
func TestBlockSleepsInPoller(t *testing.T) {
	defer func(n int) { bellAbove = n }(bellAbove)
	bellAbove = 1
	g := newGroup(t, 2, nil)
	e := g.ep(t, 0, 1)
	tr := g.trs[1]
	sl := tr.seg.u32(offSleepers)
	tests := []struct {
		name     string
		sleepers int
		wake     func()
	}{
		{"Wake", 1, tr.Wake},
		{"frame", 1, func() {
			h := transport.Header{Kind: transport.KindEager, Len: 1}
			if err := e.Send(&h, []byte{7}); err != nil {
				t.Error(err)
			}
		}},
		{"Wake, two sleepers", 2, tr.Wake},
		{"frame, two sleepers", 2, func() {
			h := transport.Header{Kind: transport.KindEager, Len: 1}
			if err := e.Send(&h, []byte{8}); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{}, tc.sleepers)
			for range tc.sleepers {
				go func() { tr.Block(time.Hour); done <- struct{}{} }()
			}
			// The first sleeper takes the bell, any other the futex.
			want := uint32(bellSleeper + tc.sleepers - 1)
			stop := time.Now().Add(deadline)
			for atomic.LoadUint32(sl) != want || tc.sleepers == 1 && sleeperState() != "IO wait" {
				if time.Now().After(stop) {
					t.Fatalf("sleepers word %#x, want %#x; state of the bell sleeper %q, want \"IO wait\"", atomic.LoadUint32(sl), want, sleeperState())
				}
				time.Sleep(time.Millisecond)
			}
			tc.wake()
			for i := range tc.sleepers {
				select {
				case <-done:
				case <-time.After(deadline):
					t.Fatalf("%d of %d sleepers still in Block after %v", tc.sleepers-i, tc.sleepers, deadline)
				}
			}
			for tr.Poll() {
			}
		})
	}
	if got := len(g.recs[1].Frames()); got != 2 {
		t.Errorf("rank 1 got %d frames, want 2", got)
	}
}

// A peer's exit is seen as it happens, through its pidfd in the poller, and
// wakes a sleeping rank: no periodic check of every peer is needed.
func TestExitWakesSleeper(t *testing.T) {
	for _, above := range []int{1, 1 << 20} { // on the bell; on the futex
		t.Run(fmt.Sprintf("bellAbove=%d", above), func(t *testing.T) {
			defer func(n int) { bellAbove = n }(bellAbove)
			bellAbove = above
			testExitWakesSleeper(t)
		})
	}
}

func testExitWakesSleeper(t *testing.T) {
	g := newGroup(t, 3, nil)
	tr := g.trs[0]
	// No periodic exit check while the test runs.
	tr.lastCheck.Store(time.Now().Add(time.Hour).UnixNano())
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	tr.peers[2].learnPid(tr, cmd.Process.Pid)
	tr.mu.Lock()
	polled := len(tr.watch)
	tr.mu.Unlock()
	if polled != 0 {
		t.Errorf("%d peers left to periodic polling, want 0", polled)
	}
	done := make(chan struct{})
	go func() {
		// Poll reports the failure; Block only once Poll has found nothing.
		for !tr.Poll() && len(g.recs[0].Fails(2)) == 0 {
			tr.Block(time.Hour)
		}
		close(done)
	}()
	time.Sleep(10 * time.Millisecond) // let it fall asleep
	cmd.Process.Kill()
	cmd.Wait()
	select {
	case <-done:
	case <-time.After(deadline):
		tr.Wake()
		t.Fatalf("rank 0 did not notice rank 2's process (pid %d) exit within %v", cmd.Process.Pid, deadline)
	}
	fails := g.recs[0].Fails(2)
	if len(fails) != 1 || !errors.Is(fails[0], ErrPeerExited) {
		t.Errorf("rank 2's failures are %v, want one %v", fails, ErrPeerExited)
	}
}
