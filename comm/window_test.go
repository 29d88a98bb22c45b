package comm_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/comm/internal/wincheck"
	"github.com/mpx-hpc/mpx/param"
)

// windowBackends are the one-sided paths in-process ranks can take: cross
// memory attach (ranks of one process read and write each other's memory
// through process_vm_readv/writev on their own pid), and the emulation
// over the in-memory transport.
var windowBackends = []struct{ name, param string }{
	{"cma", "auto"},
	{"emulated", "emulate"},
}

func withBackend(t *testing.T, value string) {
	t.Helper()
	if err := param.Set("rma_backend", value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { param.Unset("rma_backend") })
}

// Every window check over every backend and several world sizes.
func TestWindow(t *testing.T) {
	for _, b := range windowBackends {
		if b.name == "cma" && runtime.GOOS != "linux" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			withBackend(t, b.param)
			for _, chk := range wincheck.Checks(1 << 20) {
				for _, n := range []int{1, 2, 3, 5} {
					t.Run(fmt.Sprintf("%s/%d", chk.Name, n), func(t *testing.T) {
						if err := commtest.Run(n, chk.Fn); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		})
	}
}

// The 64 MiB transfer the acceptance asks for, on two ranks.
func TestWindowLarge(t *testing.T) {
	for _, b := range windowBackends {
		if b.name == "cma" && runtime.GOOS != "linux" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			withBackend(t, b.param)
			if err := commtest.Run(2, func(c *comm.Comm) error { return wincheck.Sizes(c, 64<<20) }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rma_backend decides the path: cma where it reaches the peer, the
// emulation when forced.
func TestWindowBackendParam(t *testing.T) {
	want := map[string]string{"auto": "cma", "emulate": "emulated"}
	if runtime.GOOS != "linux" {
		want["auto"] = "emulated"
	}
	for value, backend := range want {
		t.Run(value, func(t *testing.T) {
			withBackend(t, value)
			err := commtest.Run(2, func(c *comm.Comm) error {
				w, err := comm.AllocWindow[float64](c, 4)
				if err != nil {
					return err
				}
				for r := range c.Size() {
					if got := w.Backend(r); got != backend {
						return fmt.Errorf("backend to rank %d is %q, want %q", r, got, backend)
					}
				}
				return w.Free()
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
