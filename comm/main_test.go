package comm_test

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the second process of the
// two-process benchmarks (tcp_bench_test.go).
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "comm":
		os.Exit(commChild())
	case "raw":
		os.Exit(rawChild())
	}
	os.Exit(m.Run())
}
