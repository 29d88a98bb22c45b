package mem_test

import (
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/mem"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

func TestConformance(t *testing.T) {
	for _, sc := range []bool{false, true} {
		name := "plain"
		if sc {
			name = "single-copy"
		}
		t.Run(name, func(t *testing.T) {
			transporttest.Run(t, func(t testing.TB, hs []transport.Handler) []transport.Transport {
				f := mem.NewFabric(len(hs))
				f.SingleCopy = sc
				trs := make([]transport.Transport, len(hs))
				for i, h := range hs {
					tr, err := f.Transport(i, h)
					if err != nil {
						t.Fatal(err)
					}
					trs[i] = tr
				}
				return trs
			})
		})
	}
}

func TestSingleCopyFetch(t *testing.T) {
	f := mem.NewFabric(2)
	f.SingleCopy = true
	a, _ := f.Transport(0, transporttest.NewRecorder())
	if _, err := f.Transport(1, transporttest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	ep, err := a.Endpoint(1, "")
	if err != nil {
		t.Fatal(err)
	}
	sc := ep.(transport.SingleCopy)
	src := []byte("payload!")
	desc, err := sc.Expose(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, len(src))
	if err := sc.Fetch(desc, dst); err != nil || string(dst) != "payload!" {
		t.Fatalf("fetch: %q %v", dst, err)
	}
	for _, tc := range []struct {
		name string
		desc []byte
		dst  []byte
	}{
		{"fetched twice", desc, dst},
		{"garbage descriptor", []byte("x"), dst},
	} {
		if err := sc.Fetch(tc.desc, tc.dst); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := f.Transport(0, transporttest.NewRecorder()); err == nil {
		t.Error("attaching rank 0 twice: no error")
	}
	if _, err := f.Transport(2, transporttest.NewRecorder()); err == nil {
		t.Error("attaching rank 2 to a fabric of 2: no error")
	}
}
