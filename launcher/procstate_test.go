package launcher

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ProcState
		err  string
	}{
		{"running", "25239 (cat) R 25234 25234 10127 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 156897", ProcState{PID: 25239, State: 'R', CPU: 10}, ""},
		{"stopped, odd command", "42 (a (b) c) T 1 1 1 0 -1 0 0 0 0 0 100 23 0 0 20 0 1 0 9\n", ProcState{PID: 42, State: 'T', CPU: 123}, ""},
		{"no command", "42 R 1 1", ProcState{}, "no (command)"},
		{"bad pid", "x (cat) R 1 1 1 0 -1 0 0 0 0 0 1 2", ProcState{}, `pid "x"`},
		{"too few fields", "42 (cat) R 1 1", ProcState{}, "3 fields after the command, want at least 13"},
		{"long state", "42 (cat) RS 1 1 1 0 -1 0 0 0 0 0 1 2", ProcState{}, `state "RS"`},
		{"bad utime", "42 (cat) R 1 1 1 0 -1 0 0 0 0 0 u 2", ProcState{}, `utime "u"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if tc.err != "" {
				if !errors.Is(err, errStat) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want errStat saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDescribeState(t *testing.T) {
	tests := []struct {
		now, before ProcState
		want        string
	}{
		{ProcState{State: 'T', StopSignal: syscall.SIGSTOP}, ProcState{}, "stopped by signal 19 (SIGSTOP)"},
		{ProcState{State: 'T', StopSignal: syscall.SIGTSTP}, ProcState{}, "stopped by signal 20 (SIGTSTP)"},
		{ProcState{State: 'T'}, ProcState{}, "stopped by a signal (SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU)"},
		{ProcState{State: 't'}, ProcState{}, "stopped by a debugger (traced)"},
		{ProcState{State: 'D'}, ProcState{}, "in uninterruptible sleep (D: waiting on the kernel, often I/O)"},
		{ProcState{State: 'Z'}, ProcState{}, "exited, not yet reaped (zombie)"},
		{ProcState{State: 'R', CPU: 5}, ProcState{State: 'R', CPU: 5}, "runnable but not scheduled (no processor time in 1s)"},
		{ProcState{State: 'R', CPU: 9}, ProcState{State: 'R', CPU: 5}, "running"},
		{ProcState{State: 'R', CPU: 5}, ProcState{}, "running"},
		{ProcState{State: 'S'}, ProcState{}, "sleeping"},
		{ProcState{State: 'X'}, ProcState{}, `in state 'X'`},
	}
	for _, tc := range tests {
		if got := tc.now.describe(tc.before, time.Second); got != tc.want {
			t.Errorf("%+v after %+v: %q, want %q", tc.now, tc.before, got, tc.want)
		}
	}
}

// FuzzParseStat: whatever /proc says, parsing neither panics nor accepts
// a line without a positive pid and a one-letter state.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (a) R 0 0 0 0 -1 0 0 0 0 0 1 2"))
	f.Add([]byte("2 (a) b) T 1 1 1 0 -1 0 0 0 0 0 3 4 0"))
	f.Add([]byte("3 ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && (st.PID <= 0 || st.State == 0) {
			t.Fatalf("accepted %q as %+v", b, st)
		}
	})
}
