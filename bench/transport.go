package bench

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

// Wire is what the transport-level tests need of a rank: the endpoints to
// its peers over the job's transports, and the transports that deliver
// only when polled. No matching or protocol sits between the test and the
// frames, so the difference from the comm level is the cost of those.
type Wire struct {
	Rank, Size int
	// Peer returns the endpoint to world rank r.
	Peer func(r int) (transport.Endpoint, error)
	// Pollers are driven while waiting (shared memory); nil for
	// transports that deliver from their own goroutines.
	Pollers []transport.Poller
	// MaxFrame is the smallest of the transports' largest frame payloads;
	// zero means unbounded. Messages travel as one frame each.
	MaxFrame int
}

// Frames is the transport.Handler of a transport-level run: it lands data
// payloads in one reusable buffer and counts the frames of each tag, which
// is all the tests look at. Give it to the transports before they start,
// then to RunTransport.
type Frames struct {
	recv   []byte
	counts [tagResult + 1]atomic.Uint64
	notify chan struct{}
	mu     sync.Mutex
	err    error
}

// NewFrames returns a handler whose data buffer holds maxSize bytes.
func NewFrames(maxSize int) *Frames {
	return &Frames{recv: make([]byte, max(maxSize, ackSize)), notify: make(chan struct{}, 1)}
}

// Alloc implements transport.Handler: data lands in the shared buffer, as
// OSU's receives all land in one.
func (f *Frames) Alloc(h *transport.Header) []byte {
	n := int(h.PayloadLen())
	if n <= len(f.recv) {
		return f.recv[:n]
	}
	return make([]byte, n)
}

// Deliver implements transport.Handler.
func (f *Frames) Deliver(h *transport.Header, _ []byte) {
	if h.Tag >= 0 && int(h.Tag) < len(f.counts) {
		f.counts[h.Tag].Add(1)
	}
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Fail implements transport.Handler.
func (f *Frames) Fail(peer int, err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = fmt.Errorf("link to rank %d failed: %w", peer, err)
	}
	f.mu.Unlock()
	f.Deliver(&transport.Header{Tag: -1}, nil)
}

func (f *Frames) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// waitPolicy reads comm's waiting knobs, wait_mode and wait_spin, so that
// the transport level waits as the comm level does and the two differ only
// by matching and protocols. spin < 0 means never block.
func waitPolicy(ranks int) (spin time.Duration) {
	mode, spin := "adaptive", 50*time.Microsecond
	for _, in := range param.All() {
		switch in.Name {
		case "wait_mode":
			mode = in.Value
		case "wait_spin":
			if d, err := time.ParseDuration(in.Value); err == nil {
				spin = d
			}
		}
	}
	switch mode {
	case "spin":
		return -1
	case "block":
		return 0
	}
	if ranks > goruntime.NumCPU() {
		spin /= 2
	}
	return spin
}

// wait returns once want frames of tag have arrived in all, polling the
// transports that need it for up to spin, then backing off to blocking
// waits.
func (f *Frames) wait(w *Wire, tag int, want uint64, spin time.Duration) error {
	var start time.Time
	for n := 0; f.counts[tag].Load() < want; n++ {
		progressed := false
		for _, p := range w.Pollers {
			if p.Poll() {
				progressed = true
			}
		}
		if progressed {
			continue
		}
		if err := f.failed(); err != nil {
			return err
		}
		if n == 0 {
			start = time.Now()
		}
		switch {
		case spin < 0 || time.Since(start) < spin:
			goruntime.Gosched()
		case len(w.Pollers) > 0:
			w.Pollers[0].Block(100 * time.Microsecond)
		default:
			select {
			case <-f.notify:
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// link is one rank's state in a transport-level run.
type link struct {
	w      *Wire
	f      *Frames
	eps    map[int]transport.Endpoint
	sent   [tagResult + 1]uint64 // frames of each tag this rank expects, cumulative
	spin   time.Duration         // how long a wait polls before it blocks; < 0: always
	header transport.Header
}

func (l *link) send(peer, tag int, payload []byte, kind transport.Kind) error {
	ep, ok := l.eps[peer]
	if !ok {
		var err error
		if ep, err = l.w.Peer(peer); err != nil {
			return err
		}
		l.eps[peer] = ep
	}
	l.header = transport.Header{Kind: kind, Source: int32(l.w.Rank), Tag: int32(tag), Len: uint64(len(payload))}
	return ep.Send(&l.header, payload)
}

// expect waits for n more frames of tag.
func (l *link) expect(tag int, n uint64) error {
	l.sent[tag] += n
	return l.f.wait(l.w, tag, l.sent[tag], l.spin)
}

// align is the transport-level barrier: rank 0 hears from every rank, then
// releases each.
func (l *link) align() error {
	if l.w.Rank != 0 {
		if err := l.send(0, tagSync, nil, transport.KindCtrl); err != nil {
			return err
		}
		return l.expect(tagSync, 1)
	}
	if err := l.expect(tagSync, uint64(l.w.Size-1)); err != nil {
		return err
	}
	for r := 1; r < l.w.Size; r++ {
		if err := l.send(r, tagSync, nil, transport.KindCtrl); err != nil {
			return err
		}
	}
	return nil
}

// RunTransport runs latency or bw on bare frames: eager frames of the
// message size, a control frame as the bandwidth test's acknowledgement.
// Every rank calls it with the same options and its own Wire and Frames
// (the handler its transports deliver to). Rank 0 gets the result, the
// others nil.
func RunTransport(w *Wire, f *Frames, t *Test, o Options) (*Result, error) {
	if !t.Transport {
		return nil, fmt.Errorf("bench: %s has no transport level (latency and bw do)", t.Name)
	}
	if err := t.CheckRanks(w.Size); err != nil {
		return nil, err
	}
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	if w.MaxFrame > 0 && o.MaxSize > w.MaxFrame {
		return nil, fmt.Errorf("%s: %d-byte messages exceed the transport's %d-byte frames", t.Name, o.MaxSize, w.MaxFrame)
	}
	if w.Peer == nil || f == nil {
		return nil, errors.New("bench: a transport-level run needs the rank's endpoints and its frame handler")
	}
	l := &link{w: w, f: f, eps: map[int]transport.Endpoint{}, spin: waitPolicy(w.Size)}
	send := make([]byte, max(o.MaxSize, ackSize))
	r := &Result{Test: t.Name, Level: LevelTransport, Impl: "mpx", Unit: t.Unit(), Ranks: w.Size, Opts: o}
	sizes := o.Sizes()
	for i, size := range sizes {
		// Touch both buffers before timing, as the comm level does.
		for j := range send[:size] {
			send[j] = 'a'
		}
		for j := range f.recv[:size] {
			f.recv[j] = 'b'
		}
		if err := l.align(); err != nil {
			return nil, fmt.Errorf("%s size %d: %w", t.Name, size, err)
		}
		var row Row
		var err error
		if w.Rank < 2 {
			if t.Name == "latency" {
				row, err = l.pingpong(o, send[:size])
			} else {
				row, err = l.window(o, send[:size])
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s size %d: %w", t.Name, size, err)
		}
		if w.Rank == 0 {
			r.Rows = append(r.Rows, row)
			if o.Progress != nil {
				o.Progress(i+1, len(sizes))
			}
		}
	}
	if w.Rank != 0 {
		return nil, nil
	}
	return r, nil
}

func (l *link) pingpong(o Options, payload []byte) (Row, error) {
	size := len(payload)
	iters, warmup := o.Schedule(size)
	peer := 1 - l.w.Rank
	var start time.Time
	for i := 0; i < iters+warmup; i++ {
		if i == warmup {
			start = time.Now()
		}
		if l.w.Rank == 1 {
			if err := l.expect(tagData, 1); err != nil {
				return Row{}, err
			}
		}
		if err := l.send(peer, tagData, payload, transport.KindEager); err != nil {
			return Row{}, err
		}
		if l.w.Rank == 0 {
			if err := l.expect(tagData, 1); err != nil {
				return Row{}, err
			}
		}
	}
	us := float64(time.Since(start).Nanoseconds()) / 1e3 / float64(2*iters)
	return Row{Size: size, Value: us}, nil
}

// window sends windows of frames from rank 0 to rank 1, each answered by
// an acknowledgement once all of it has arrived. A transport's Send
// returns once the frame is handed over, so a window is Window sends in a
// row.
func (l *link) window(o Options, payload []byte) (Row, error) {
	size := len(payload)
	iters, warmup := o.Schedule(size)
	var ack [ackSize]byte
	var start time.Time
	for i := 0; i < iters+warmup; i++ {
		if i == warmup {
			start = time.Now()
		}
		if l.w.Rank == 0 {
			for j := 0; j < o.Window; j++ {
				if err := l.send(1, tagData, payload, transport.KindEager); err != nil {
					return Row{}, err
				}
			}
			if err := l.expect(tagAck, 1); err != nil {
				return Row{}, err
			}
		} else {
			if err := l.expect(tagData, uint64(o.Window)); err != nil {
				return Row{}, err
			}
			if err := l.send(0, tagAck, ack[:], transport.KindCtrl); err != nil {
				return Row{}, err
			}
		}
	}
	secs := time.Since(start).Seconds()
	return Row{Size: size, Value: float64(iters*o.Window) * float64(size) / 1e6 / secs}, nil
}
