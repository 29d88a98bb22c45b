package launcher

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The first panic or fatal-error line of a rank's stderr is kept, bounded,
// for the job's summary; output goes through unchanged.
func TestLineWriterPanic(t *testing.T) {
	long := strings.Repeat("x", maxPanicText+50)
	tests := []struct {
		name, in string
		want     string // "" for none
	}{
		{"panic", "working\npanic: boom\n\ngoroutine 1 [running]:\n", "boom"},
		{"fatal error", "fatal error: all goroutines are asleep - deadlock!\n", "fatal error: all goroutines are asleep - deadlock!"},
		{"first of two", "panic: first\npanic: second\n", "first"},
		{"cut in chunks", "pan|ic: in pieces\n", "in pieces"},
		{"long", "panic: " + long + "\n", long[:maxPanicText] + "..."},
		{"not at line start", "said panic: no\n", ""},
		{"none", "all well\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			var p atomic.Pointer[string]
			l := &lineWriter{out: syncWriter{&sync.Mutex{}, &out}, panicked: &p}
			for _, chunk := range strings.Split(tc.in, "|") {
				l.Write([]byte(chunk))
			}
			l.Close()
			got := ""
			if s := p.Load(); s != nil {
				got = *s
			}
			if got != tc.want {
				t.Errorf("panic text %q, want %q", got, tc.want)
			}
			if want := strings.ReplaceAll(tc.in, "|", ""); out.String() != want {
				t.Errorf("output %q, want %q", out.String(), want)
			}
		})
	}
}
