package comm

import "io"

// WarnOverriddenForTest is what rank 0 prints at Init about coll_reproducible.
func WarnOverriddenForTest(w io.Writer) { warnOverridden(w) }

// LivePoolsForTest counts the worlds whose context pool is still held.
func LivePoolsForTest() int {
	n := 0
	pools.Range(func(_, _ any) bool { n++; return true })
	return n
}
