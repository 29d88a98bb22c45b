package bench

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// Every one-sided test runs over both window backends and gives a
// plausible figure for every size.
func TestRunOneSided(t *testing.T) {
	for _, backend := range []string{"auto", "emulate"} {
		t.Run(backend, func(t *testing.T) {
			if err := param.Set("rma_backend", backend); err != nil {
				t.Fatal(err)
			}
			defer param.Unset("rma_backend")
			for _, tt := range oneSided {
				for _, n := range []int{2, 3} {
					o := small(tt, 16<<10)
					if fixedSize(tt) {
						o.MinSize, o.MaxSize = 8, 8
					}
					r := runAll(t, tt, n, o)
					var sizes []int
					for _, row := range r.Rows {
						sizes = append(sizes, row.Size)
						if row.Value <= 0 || row.Value > 1e7 {
							t.Errorf("%s on %d ranks size %d: implausible %v %s", tt.Name, n, row.Size, row.Value, r.Unit)
						}
					}
					if !reflect.DeepEqual(sizes, o.Sizes()) {
						t.Errorf("%s: sizes %v, want %v", tt.Name, sizes, o.Sizes())
					}
				}
			}
		})
	}
}

func TestOneSidedFixedSize(t *testing.T) {
	tt := mustTest(t, "osu_fop_latency")
	if o := Defaults(tt); o.MinSize != 8 || o.MaxSize != 8 {
		t.Errorf("fop_latency defaults to sizes %d:%d, want 8:8", o.MinSize, o.MaxSize)
	}
	o := small(tt, 16)
	err := commtest.Run(2, func(c *comm.Comm) error {
		_, err := Run(c, tt, o)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "size 8 only") {
		t.Fatalf("fop_latency with sizes up to 16: %v", err)
	}
}
