package shm

import (
	"path/filepath"
	"testing"
)

// checkNoResidue fails t if any segment of job is left under /dev/shm.
func checkNoResidue(t testing.TB, job string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(shmDir, segmentPrefix+job+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("segments of job %s left under %s: %v", job, shmDir, left)
	}
}
