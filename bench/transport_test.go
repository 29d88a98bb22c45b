package bench

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/mem"
)

// runFrames runs a transport-level test on n goroutine ranks over the
// in-memory transport and returns rank 0's result.
func runFrames(t *testing.T, test *Test, n int, o Options, maxFrame int) (*Result, error) {
	t.Helper()
	fab := mem.NewFabric(n)
	frames := make([]*Frames, n)
	trs := make([]*mem.Transport, n)
	for r := range n {
		frames[r] = NewFrames(o.MaxSize)
		tr, err := fab.Transport(r, frames[r])
		if err != nil {
			t.Fatal(err)
		}
		trs[r] = tr
	}
	defer func() {
		for _, tr := range trs {
			tr.Close()
		}
	}()
	var wg sync.WaitGroup
	results := make([]*Result, n)
	errs := make([]error, n)
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &Wire{Rank: r, Size: n, MaxFrame: maxFrame,
				Peer: func(p int) (transport.Endpoint, error) { return trs[r].Endpoint(p, "") }}
			results[r], errs[r] = RunTransport(w, frames[r], test, o)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s on %d ranks: still running after a minute", test.Name, n)
	}
	for r := 1; r < n; r++ {
		if results[r] != nil {
			t.Errorf("rank %d returned a result", r)
		}
	}
	return results[0], errors.Join(errs...)
}

func TestRunTransport(t *testing.T) {
	cases := []struct {
		test  string
		ranks int
	}{
		{"latency", 2},
		{"latency", 3},
		{"bw", 2},
	}
	for _, c := range cases {
		tt := mustTest(t, c.test)
		o := small(tt, 16<<10)
		r, err := runFrames(t, tt, c.ranks, o, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.test, err)
		}
		if r.Level != LevelTransport || r.Test != c.test || r.Ranks != c.ranks {
			t.Errorf("%s: result header %+v", c.test, r)
		}
		var sizes []int
		for _, row := range r.Rows {
			sizes = append(sizes, row.Size)
			if row.Value <= 0 || row.Value > 1e7 {
				t.Errorf("%s size %d: implausible %v %s", c.test, row.Size, row.Value, r.Unit)
			}
		}
		if !reflect.DeepEqual(sizes, o.Sizes()) {
			t.Errorf("%s: sizes %v, want %v", c.test, sizes, o.Sizes())
		}
	}
}

func TestRunTransportRejects(t *testing.T) {
	lat := mustTest(t, "latency")
	cases := []struct {
		name     string
		test     *Test
		ranks    int
		maxFrame int
		want     string
	}{
		{"collective", mustTest(t, "allreduce"), 2, 0, "no transport level"},
		{"one rank", lat, 1, 0, "at least 2 ranks"},
		{"frame limit", lat, 2, 1024, "exceed"},
	}
	for _, c := range cases {
		_, err := runFrames(t, c.test, c.ranks, small(c.test, 4096), c.maxFrame)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestFramesFail(t *testing.T) {
	f := NewFrames(16)
	w := &Wire{Rank: 0, Size: 2}
	go f.Fail(1, transport.ErrClosed)
	err := f.wait(w, tagData, 1, 0)
	if !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "rank 1") {
		t.Errorf("wait after Fail: %v", err)
	}
}

func TestWaitPolicy(t *testing.T) {
	defer param.Unset("wait_mode")
	defer param.Unset("wait_spin")
	cases := []struct {
		mode, spin string
		ranks      int
		want       time.Duration
	}{
		{"spin", "50us", 2, -1},
		{"block", "50us", 2, 0},
		{"adaptive", "1ms", 1, time.Millisecond},
		{"adaptive", "1ms", 1 << 20, 500 * time.Microsecond}, // ranks outnumber cores
	}
	for _, c := range cases {
		if err := param.Set("wait_mode", c.mode); err != nil {
			t.Fatal(err)
		}
		if err := param.Set("wait_spin", c.spin); err != nil {
			t.Fatal(err)
		}
		if got := waitPolicy(c.ranks); got != c.want {
			t.Errorf("wait_mode=%s wait_spin=%s on %d ranks: spin %v, want %v", c.mode, c.spin, c.ranks, got, c.want)
		}
	}
}
