package transporttest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	h := &transport.Header{Kind: transport.KindEager, Source: 2, Tag: 5, Len: 3}
	buf := r.Alloc(h)
	if len(buf) != 3 {
		t.Fatalf("Alloc gave %d bytes, want 3", len(buf))
	}
	copy(buf, "abc")
	go r.Deliver(h, buf)
	f := r.WaitFrames(t, 1, 5*time.Second)
	if len(f) != 1 || f[0].Header != *h || string(f[0].Payload) != "abc" {
		t.Errorf("frames %+v", f)
	}
	boom := errors.New("boom")
	go r.Fail(2, boom)
	if err := r.WaitFail(t, 2, 5*time.Second); err != boom {
		t.Errorf("WaitFail = %v, want boom", err)
	}
	if v := r.Violations(); len(v) != 0 {
		t.Errorf("violations after correct use: %q", v)
	}

	// Contract violations are noticed.
	r.Deliver(&transport.Header{Kind: transport.KindEager, Source: 1, Len: 4}, []byte("ab"))
	r.Deliver(h, []byte("abc"))
	r.Fail(3, nil)
	v := strings.Join(r.Violations(), "\n")
	for _, want := range []string{"2 payload bytes", "from rank 2 after its Fail", "Fail(3) with a nil error"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations %q lack %q", v, want)
		}
	}
	if n := len(r.Fails(3)); n != 1 {
		t.Errorf("Fails(3) has %d entries, want 1", n)
	}
}

func TestPattern(t *testing.T) {
	a, b := patterned(1001, 7), patterned(1001, 8)
	if string(a) == string(b) {
		t.Errorf("different seeds give the same pattern")
	}
	if string(a) != string(patterned(1001, 7)) {
		t.Errorf("pattern is not deterministic")
	}
	zeros := 0
	for _, x := range a {
		if x == 0 {
			zeros++
		}
	}
	if zeros > 50 {
		t.Errorf("%d zero bytes in 1001: the pattern would not show a zero-filled payload", zeros)
	}
}
