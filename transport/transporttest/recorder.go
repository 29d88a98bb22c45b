// Package transporttest is the conformance suite every mpx transport
// passes, and a recording Handler for transport tests.
package transporttest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// Frame is a frame as a Recorder received it.
type Frame struct {
	Header  transport.Header
	Payload []byte
}

// Recorder is a transport.Handler that keeps every frame and failure. It is
// safe for concurrent use; its Wait methods fail the test on timeout.
type Recorder struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every event
	frames  []Frame
	fails   map[int][]error
	errs    []string // contract violations seen by the handler
}

var _ transport.Handler = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{}), fails: map[int][]error{}}
}

func (r *Recorder) event() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Alloc returns a fresh buffer of the payload's length.
func (r *Recorder) Alloc(h *transport.Header) []byte { return make([]byte, h.PayloadLen()) }

// Deliver records the frame.
func (r *Recorder) Deliver(h *transport.Header, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uint64(len(payload)) != h.PayloadLen() {
		r.errs = append(r.errs, fmt.Sprintf("Deliver: %d payload bytes for header %v", len(payload), h))
	}
	if len(r.fails[int(h.Source)]) > 0 {
		r.errs = append(r.errs, fmt.Sprintf("Deliver from rank %d after its Fail: %v", h.Source, h))
	}
	r.frames = append(r.frames, Frame{Header: *h, Payload: payload})
	r.event()
}

// Fail records the failure.
func (r *Recorder) Fail(peer int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.errs = append(r.errs, fmt.Sprintf("Fail(%d) with a nil error", peer))
	}
	r.fails[peer] = append(r.fails[peer], err)
	r.event()
}

// Frames returns a copy of the frames received so far, in arrival order.
func (r *Recorder) Frames() []Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Frame(nil), r.frames...)
}

// Fails returns the errors Fail reported for peer, in order.
func (r *Recorder) Fails(peer int) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.fails[peer]...)
}

// Violations lists contract violations the Recorder noticed: payloads of
// the wrong length, frames after Fail, Fail without an error.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// waitFor waits until cond (called with r.mu held) holds or d passes.
func (r *Recorder) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// WaitFrames waits until at least n frames have arrived and returns them;
// after d it fails the test.
func (r *Recorder) WaitFrames(t testing.TB, n int, d time.Duration) []Frame {
	t.Helper()
	if !r.waitFor(d, func() bool { return len(r.frames) >= n }) {
		t.Fatalf("after %v: %d frames arrived, want %d", d, len(r.Frames()), n)
	}
	return r.Frames()
}

// WaitFail waits for a Fail about peer and returns its error; after d it
// fails the test.
func (r *Recorder) WaitFail(t testing.TB, peer int, d time.Duration) error {
	t.Helper()
	if !r.waitFor(d, func() bool { return len(r.fails[peer]) > 0 }) {
		t.Fatalf("after %v: no Fail for rank %d", d, peer)
	}
	return r.Fails(peer)[0]
}
