package bench

import (
	"reflect"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// small is a quick schedule: a few sizes across the 8 KiB switch, a handful
// of iterations.
func small(t *Test, max int) Options {
	o := Defaults(t)
	o.MaxSize = max
	o.Iters, o.Warmup, o.ItersLarge, o.WarmupLarge, o.Window = 20, 2, 5, 1, 8
	if t.Name == "barrier" {
		o.MaxSize = 0
	}
	return o
}

// runAll runs test on n in-process ranks and returns rank 0's result,
// checking that the others returned none.
func runAll(t *testing.T, test *Test, n int, o Options) *Result {
	t.Helper()
	var mu sync.Mutex
	var got *Result
	others := 0
	err := commtest.Run(n, func(c *comm.Comm) error {
		r, err := Run(c, test, o)
		mu.Lock()
		defer mu.Unlock()
		if c.Rank() == 0 {
			got = r
		} else if r != nil {
			others++
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s on %d ranks: %v", test.Name, n, err)
	}
	if others != 0 {
		t.Errorf("%s: %d ranks other than 0 returned a result", test.Name, others)
	}
	if got == nil {
		t.Fatalf("%s: rank 0 returned no result", test.Name)
	}
	return got
}

func TestRunPointToPoint(t *testing.T) {
	cases := []struct {
		test  string
		ranks int
		max   int
	}{
		{"latency", 2, 16 << 10},
		{"latency", 3, 64}, // a third rank sits out
		{"bw", 2, 16 << 10},
		{"bibw", 2, 16 << 10},
		{"mbw_mr", 2, 1 << 10},
		{"mbw_mr", 4, 16 << 10},
	}
	for _, c := range cases {
		tt := mustTest(t, c.test)
		o := small(tt, c.max)
		r := runAll(t, tt, c.ranks, o)
		if r.Test != c.test || r.Ranks != c.ranks || r.Unit != tt.Unit() || r.Level != LevelComm || r.Impl != "mpx" {
			t.Errorf("%s: result header %+v", c.test, r)
		}
		var sizes []int
		for _, row := range r.Rows {
			sizes = append(sizes, row.Size)
			switch {
			case row.Value <= 0 || row.Value > 1e7:
				t.Errorf("%s size %d: implausible %v %s", c.test, row.Size, row.Value, r.Unit)
			case tt.MessageRate && row.Rate <= 0:
				t.Errorf("%s size %d: message rate %v", c.test, row.Size, row.Rate)
			case tt.MessageRate && row.Value != row.Rate*float64(row.Size)/1e6:
				t.Errorf("%s size %d: %v MB/s is not %v messages/s times the size", c.test, row.Size, row.Value, row.Rate)
			}
		}
		if !reflect.DeepEqual(sizes, o.Sizes()) {
			t.Errorf("%s: sizes %v, want %v", c.test, sizes, o.Sizes())
		}
	}
}

func TestRunRejects(t *testing.T) {
	lat, mbw := mustTest(t, "latency"), mustTest(t, "mbw_mr")
	bad := small(lat, 64)
	bad.Iters = 0
	cases := []struct {
		name  string
		test  *Test
		ranks int
		o     Options
	}{
		{"one rank", lat, 1, small(lat, 64)},
		{"odd pairs", mbw, 3, small(mbw, 64)},
		{"no iterations", lat, 2, bad},
	}
	for _, c := range cases {
		err := commtest.Run(c.ranks, func(cm *comm.Comm) error {
			_, err := Run(cm, c.test, c.o)
			return err
		})
		if err == nil {
			t.Errorf("%s: Run succeeded", c.name)
		}
	}
}

func TestRunProgress(t *testing.T) {
	tt := mustTest(t, "latency")
	o := small(tt, 8)
	var calls [][2]int
	o.Progress = func(done, total int) { calls = append(calls, [2]int{done, total}) }
	runAll(t, tt, 2, o)
	want := [][2]int{{1, 5}, {2, 5}, {3, 5}, {4, 5}, {5, 5}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}

func TestRunCollectives(t *testing.T) {
	for _, tt := range Tests() {
		if tt.Family != FamilyCollective {
			continue
		}
		for _, n := range []int{2, 3, 4} {
			o := small(tt, 1<<10)
			o.Iters, o.Warmup = 5, 1
			r := runAll(t, tt, n, o)
			if r.Test != tt.Name || r.Ranks != n || r.Unit != "us" {
				t.Errorf("%s on %d: result header %+v", tt.Name, n, r)
			}
			var sizes []int
			for _, row := range r.Rows {
				sizes = append(sizes, row.Size)
				if row.Min <= 0 || row.Min > row.Value || row.Value > row.Max || row.Max > 1e7 {
					t.Errorf("%s on %d size %d: min %v avg %v max %v", tt.Name, n, row.Size, row.Min, row.Value, row.Max)
				}
				if row.Iters != 5 {
					t.Errorf("%s on %d size %d: %d iterations, want 5", tt.Name, n, row.Size, row.Iters)
				}
			}
			if !reflect.DeepEqual(sizes, o.Sizes()) {
				t.Errorf("%s on %d: sizes %v, want %v", tt.Name, n, sizes, o.Sizes())
			}
		}
	}
}
