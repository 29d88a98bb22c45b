// Package ratelog prints lines about refused connections at a bounded
// rate: a listener flooded by strangers must not flood stderr too. Lines
// beyond the budget of an interval are counted per remote host and
// summed up in one line per host when the interval ends.
package ratelog

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Limiter passes at most Burst lines per Interval to its print function
// and counts the rest. It is safe for concurrent use.
type Limiter struct {
	burst    int
	interval time.Duration
	print    func(format string, args ...any)
	what     string // what the suppressed lines were about, for the summary

	mu      sync.Mutex
	start   time.Time      // of the current interval
	printed int            // lines printed in it
	dropped map[string]int // lines suppressed in it, by host
	timer   *time.Timer    // flushes the counts at the end of the interval
	closed  bool
}

// New returns a limiter printing through print at most burst lines every
// interval; what names the suppressed lines in the summary, as in
// "… and 1999 more <what> from 127.0.0.1 dropped".
func New(burst int, interval time.Duration, what string, print func(format string, args ...any)) *Limiter {
	return &Limiter{burst: max(burst, 1), interval: interval, print: print, what: what, dropped: map[string]int{}}
}

// Logf prints the line about a connection from host, unless the budget of
// the current interval is spent: then the line is only counted.
func (l *Limiter) Logf(host, format string, args ...any) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	now := time.Now()
	if now.Sub(l.start) >= l.interval && l.timer == nil {
		l.start, l.printed = now, 0
	}
	if l.printed < l.burst {
		l.printed++
		l.mu.Unlock()
		l.print(format, args...)
		return
	}
	l.dropped[host]++
	if l.timer == nil {
		l.timer = time.AfterFunc(l.interval-now.Sub(l.start), l.Flush)
	}
	l.mu.Unlock()
}

// Flush prints the summary of the lines suppressed so far, one line per
// host, and starts a new interval.
func (l *Limiter) Flush() {
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	counts := l.dropped
	l.dropped = map[string]int{}
	l.start, l.printed = time.Now(), 0
	l.mu.Unlock()
	hosts := make([]string, 0, len(counts))
	for h := range counts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		l.print("%s", Summary(counts[h], l.what, h))
	}
}

// Close prints what is still counted; lines logged after it are dropped
// (a closed listener's last refusals are no news).
func (l *Limiter) Close() {
	l.Flush()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// Summary is the line standing for n suppressed lines about host.
func Summary(n int, what, host string) string {
	return fmt.Sprintf("… and %d more %s from %s dropped", n, what, host)
}
