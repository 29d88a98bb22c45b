package comm

// LivePoolsForTest counts the worlds whose context pool is still held.
func LivePoolsForTest() int {
	n := 0
	pools.Range(func(_, _ any) bool { n++; return true })
	return n
}
