package ratelog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lines struct {
	mu sync.Mutex
	l  []string
}

func (b *lines) printf(format string, args ...any) {
	b.mu.Lock()
	b.l = append(b.l, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

func (b *lines) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.l...)
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name  string
		burst int
		hosts map[string]int // connections refused per host
		want  []string       // after the lines printed in full
	}{
		{"under budget", 5, map[string]int{"127.0.0.1": 3}, nil},
		{"flood", 3, map[string]int{"127.0.0.1": 2002}, []string{"… and 1999 more refused connections from 127.0.0.1 dropped"}},
		{"two hosts", 2, map[string]int{"127.0.0.1": 4, "127.0.0.2": 1},
			[]string{"… and 2 more refused connections from 127.0.0.1 dropped", "… and 1 more refused connections from 127.0.0.2 dropped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out lines
			l := New(tc.burst, time.Hour, "refused connections", out.printf)
			total := 0
			// Hosts in a fixed order: 127.0.0.1's lines first.
			for _, h := range []string{"127.0.0.1", "127.0.0.2"} {
				for i := 0; i < tc.hosts[h]; i++ {
					l.Logf(h, "refused %s #%d", h, i)
					total++
				}
			}
			full := min(total, tc.burst)
			if got := out.get(); len(got) != full {
				t.Fatalf("%d lines before the summary, want %d: %q", len(got), full, got)
			}
			l.Close()
			got := out.get()[full:]
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("summary %q, want %q", got, tc.want)
			}
			l.Logf("127.0.0.1", "after close")
			if n := len(out.get()); n != full+len(tc.want) {
				t.Errorf("a line logged after Close was printed")
			}
		})
	}
}

// TestLimiterInterval checks that the summary comes by itself when the
// interval ends, and that a new interval has a new budget.
func TestLimiterInterval(t *testing.T) {
	var out lines
	l := New(1, 50*time.Millisecond, "strangers", out.printf)
	defer l.Close()
	l.Logf("127.0.0.1", "first")
	l.Logf("127.0.0.1", "second")
	l.Logf("127.0.0.1", "third")
	deadline := time.Now().Add(10 * time.Second)
	for len(out.get()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"first", "… and 2 more strangers from 127.0.0.1 dropped"}
	if got := out.get(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	l.Logf("127.0.0.1", "fourth")
	if got := out.get(); len(got) != 3 || got[2] != "fourth" {
		t.Errorf("after the interval got %q, want a third line %q", got, "fourth")
	}
}
