//go:build !linux

package p2p

import "runtime"

// yieldCPU lets other goroutines run; without sched_yield this is the best
// a waiter can do.
func yieldCPU() { runtime.Gosched() }
