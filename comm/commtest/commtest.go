// Package commtest runs N goroutine ranks in one process over the
// in-memory transport, for fast tests of code written against comm.
package commtest

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mpx-hpc/mpx/comm"
)

// DefaultTimeout bounds a Run: a test that deadlocks fails with a report of
// what each rank was blocked in, instead of hanging.
const DefaultTimeout = 2 * time.Minute

// Options configures RunWith. The zero value means the defaults.
type Options struct {
	// Timeout bounds the whole run; zero means DefaultTimeout.
	Timeout time.Duration
	// Local configures the in-process job.
	Local comm.LocalOptions
}

// Run runs fn on n ranks and returns the ranks' errors joined (each
// prefixed with its rank), or nil when every rank returned nil.
func Run(n int, fn func(c *comm.Comm) error) error {
	return RunWith(n, Options{}, fn)
}

// RunWith is Run with options.
func RunWith(n int, opts Options, fn func(c *comm.Comm) error) error {
	job, err := comm.Local(n, opts.Local)
	if err != nil {
		return err
	}
	defer job.Close()
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			returned := false
			defer func() {
				if p := recover(); p != nil {
					errs[r] = fmt.Errorf("rank %d panicked: %v\n%s", r, p, debug.Stack())
				} else if !returned && errs[r] == nil {
					errs[r] = fmt.Errorf("rank %d stopped (Abort or runtime.Goexit)", r)
				}
				if errs[r] != nil {
					// Unblock the peers waiting for this rank.
					job.Fail(r)
				}
			}()
			if err := fn(job.Worlds[r]); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
			}
			returned = true
		}(r)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		report := job.Report()
		job.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // a rank spinning outside comm: give up on it
		}
		return fmt.Errorf("commtest: %d ranks still running after %v; blocked in:\n%s", n, timeout, report)
	}
	all := errs[:0:0]
	for _, e := range errs {
		if e != nil {
			all = append(all, e)
		}
	}
	for _, a := range job.Aborts() {
		all = append(all, errors.New(a))
	}
	return errors.Join(all...)
}
