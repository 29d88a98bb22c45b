//go:build !ucx

package runtime

import (
	"errors"
	"testing"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/runtime/bootstrap"
	"github.com/mpx-hpc/mpx/transport/ucx"
)

// A binary without ucx refuses transport=ucx with a clear error, and under
// auto quietly goes without it.
func TestOpenUCXNotBuilt(t *testing.T) {
	rt := &Runtime{env: bootstrap.Env{Rank: 0, Size: 2}}
	t.Cleanup(func() { param.Set("transport", "auto") })
	if err := param.Set("transport", "ucx"); err != nil {
		t.Fatal(err)
	}
	if err := rt.openUCX(nil); !errors.Is(err, ucx.ErrNotBuilt) {
		t.Errorf("transport=ucx without ucx: %v, want ucx.ErrNotBuilt", err)
	}
	if err := param.Set("transport", "auto"); err != nil {
		t.Fatal(err)
	}
	if err := rt.openUCX(nil); err != nil || rt.ucx != nil {
		t.Errorf("transport=auto without ucx: %v, ucx %v; want neither", err, rt.ucx)
	}
}
