package rdma

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
)

// fabric joins in-process Domains: a frame is delivered on the sender's
// goroutine, as transport/mem does, and Later runs on a goroutine.
type fabric struct {
	doms     []*Domain
	locks    []sync.Mutex // one delivery at a time per destination
	maxFrame int
	drop     bool // frames vanish (a peer that never answers)
}

func newFabric(n, maxFrame int, backends []Backend) *fabric {
	f := &fabric{doms: make([]*Domain, n), locks: make([]sync.Mutex, n), maxFrame: maxFrame}
	for r := range n {
		f.doms[r] = NewDomain(conduit{f, r}, backends...)
	}
	return f
}

type conduit struct {
	f    *fabric
	rank int
}

func (c conduit) Rank() int             { return c.rank }
func (c conduit) MaxFrame(peer int) int { return c.f.maxFrame }
func (c conduit) Later(fn func())       { go fn() }
func (c conduit) Start(peer int, label string) Completion {
	return chanCompletion(make(chan error, 1))
}

func (c conduit) Send(peer int, h *transport.Header, payload []byte) error {
	if c.f.maxFrame > 0 && len(payload) > c.f.maxFrame {
		return fmt.Errorf("frame of %d bytes above the %d limit", len(payload), c.f.maxFrame)
	}
	if c.f.drop {
		return nil
	}
	c.f.locks[peer].Lock()
	defer c.f.locks[peer].Unlock()
	hdr := *h
	d := c.f.doms[peer]
	buf := d.Alloc(&hdr)
	if len(buf) != len(payload) {
		return fmt.Errorf("Alloc gave %d bytes for a %d-byte payload", len(buf), len(payload))
	}
	copy(buf, payload)
	d.Deliver(&hdr, buf)
	return nil
}

type chanCompletion chan error

func (c chanCompletion) Complete(err error) { c <- err }
func (c chanCompletion) Wait() error        { return <-c }

var backendCases = []struct {
	name     string
	backends []Backend
	want     string
}{
	{"emulated", nil, "emulated"},
	{"direct", DefaultBackends(), ""},
}

func attach(t *testing.T, f *fabric, from, to int, r *Region) *Remote {
	t.Helper()
	rm, err := f.doms[from].Attach(to, r.Key())
	if err != nil {
		t.Fatal(err)
	}
	return rm
}

func TestPutGetAtomics(t *testing.T) {
	for _, bc := range backendCases {
		for _, mf := range []int{0, 16} {
			t.Run(fmt.Sprintf("%s/maxframe=%d", bc.name, mf), func(t *testing.T) {
				f := newFabric(2, mf, bc.backends)
				mem := make([]byte, 64)
				reg, err := f.doms[1].Register(mem, nil)
				if err != nil {
					t.Fatal(err)
				}
				rm := attach(t, f, 0, 1, reg)
				if bc.want != "" && rm.Backend() != bc.want {
					t.Fatalf("backend %q, want %q", rm.Backend(), bc.want)
				}
				src := []byte("one-sided put, longer than one small frame")
				if err := rm.Put(src, 8); err != nil {
					t.Fatal(err)
				}
				if err := rm.Flush(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(mem[8:8+len(src)], src) {
					t.Fatalf("target holds %q", mem[8:8+len(src)])
				}
				got := make([]byte, len(src))
				if err := rm.Get(got, 8); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("got %q", got)
				}
				if err := rm.Put(nil, 64); err != nil { // zero bytes at the very end
					t.Fatal(err)
				}
				binary.LittleEndian.PutUint64(mem[56:], 40)
				if old, err := rm.FetchAdd(56, 2); err != nil || old != 40 {
					t.Fatalf("FetchAdd: %d, %v", old, err)
				}
				if old, err := rm.CompareSwap(56, 41, 7); err != nil || old != 42 {
					t.Fatalf("failing CompareSwap: %d, %v", old, err)
				}
				if old, err := rm.CompareSwap(56, 42, 7); err != nil || old != 42 {
					t.Fatalf("CompareSwap: %d, %v", old, err)
				}
				if v := binary.LittleEndian.Uint64(mem[56:]); v != 7 {
					t.Fatalf("word is %d after CompareSwap, want 7", v)
				}
			})
		}
	}
}

func TestCallPost(t *testing.T) {
	f := newFabric(2, 0, nil)
	mem := make([]byte, 16)
	var calls []uint32
	reg, _ := f.doms[1].Register(mem, func(src int, code uint32, off int, arg []byte, reply func([]byte, error)) {
		calls = append(calls, code)
		if code == 9 {
			reply(nil, fmt.Errorf("%w: code 9 refused", ErrRemote))
			return
		}
		mem[off] += arg[0]
		reply([]byte{mem[off], byte(src)}, nil)
	})
	rm := attach(t, f, 0, 1, reg)
	res := make([]byte, 4)
	n, err := rm.Call(3, 2, []byte{5}, res)
	if err != nil || n != 2 || res[0] != 5 || res[1] != 0 {
		t.Fatalf("Call: %d %v %v", n, res, err)
	}
	if err := rm.Post(4, 2, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := rm.Flush(); err != nil || mem[2] != 6 {
		t.Fatalf("after Post and Flush: mem[2]=%d, %v", mem[2], err)
	}
	if err := rm.Post(9, 0, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := rm.Flush(); !errors.Is(err, ErrRemote) {
		t.Fatalf("Flush after a refused Post: %v, want ErrRemote", err)
	}
	if err := rm.Flush(); err != nil {
		t.Fatalf("second Flush reports %v again", err)
	}
	if _, err := rm.Call(9, 0, []byte{1}, nil); !errors.Is(err, ErrRemote) || !bytes.Contains([]byte(err.Error()), []byte("code 9 refused")) {
		t.Fatalf("refused Call: %v", err)
	}
	if fmt.Sprint(calls) != "[3 4 9 9]" {
		t.Fatalf("handler saw codes %v", calls)
	}
}

// Bad accesses fail with the right error and move nothing, whether the
// origin catches them or only the target does.
func TestErrors(t *testing.T) {
	f := newFabric(2, 0, nil)
	mem := bytes.Repeat([]byte{0xAA}, 32)
	reg, _ := f.doms[1].Register(mem, nil)
	rm := attach(t, f, 0, 1, reg)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"put past the end", rm.Put(make([]byte, 4), 30), ErrRange},
		{"get at a negative offset", rm.Get(make([]byte, 4), -1), ErrRange},
		{"atomic past the end", func() error { _, err := rm.FetchAdd(28, 1); return err }(), ErrRange},
		{"unaligned atomic", func() error { _, err := rm.FetchAdd(4, 1); return err }(), ErrAlign},
		{"call without handler", func() error { _, err := rm.Call(1, 0, nil, nil); return err }(), ErrRemote},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// A put the origin did not check (a corrupt or stale peer): the
	// target refuses it, and the origin's Flush says so.
	h := transport.Header{Kind: transport.KindRMA, Source: 0, Context: reg.id, Tag: opPut, Seq: 30, Len: 4}
	if err := f.doms[0].c.Send(1, &h, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	rm.dirty.Store(true)
	if err := rm.Flush(); !errors.Is(err, ErrRange) {
		t.Fatalf("Flush after an out-of-range put: %v", err)
	}
	h = transport.Header{Kind: transport.KindRMA, Source: 0, Context: reg.id, Tag: opGet, Seq: 1 << 40, RReq: 8}
	if err := f.doms[0].roundTrip(1, &h, nil, &op{dst: make([]byte, 8), want: 8}, "get"); !errors.Is(err, ErrRange) {
		t.Fatalf("unchecked get past the end: %v", err)
	}
	if !bytes.Equal(mem, bytes.Repeat([]byte{0xAA}, 32)) {
		t.Fatalf("refused accesses changed the region: %x", mem)
	}
	reg.Deregister()
	if err := rm.Get(make([]byte, 1), 0); !errors.Is(err, ErrRegion) {
		t.Fatalf("get from a deregistered region: %v", err)
	}
}

// Operations waiting on a peer whose link breaks end with the error.
func TestFail(t *testing.T) {
	f := newFabric(2, 0, nil)
	reg, _ := f.doms[1].Register(make([]byte, 8), nil)
	rm := attach(t, f, 0, 1, reg)
	f.drop = true
	gone := errors.New("peer is gone")
	done := make(chan error)
	go func() { done <- rm.Get(make([]byte, 8), 0) }()
	for {
		f.doms[0].mu.Lock()
		n := len(f.doms[0].ops)
		f.doms[0].mu.Unlock()
		if n > 0 {
			break
		}
	}
	f.doms[0].Fail(1, gone)
	if err := <-done; !errors.Is(err, gone) {
		t.Fatalf("get from a failed peer: %v", err)
	}
}

func TestKey(t *testing.T) {
	k := packedKey{id: 7, size: 4096, sections: []keySection{{"cma", []byte{1, 2, 3}}, {"ucx", nil}}}
	got, err := decodeKey(k.encode())
	if err != nil || got.id != 7 || got.size != 4096 || len(got.sections) != 2 ||
		got.sections[0].name != "cma" || !bytes.Equal(got.sections[0].key, []byte{1, 2, 3}) || got.sections[1].name != "ucx" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	good := k.encode()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("XXXX"), good[4:]...)},
		{"truncated section", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"huge region", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint64(b[8:], 1<<60)
			return b
		}()},
	} {
		if _, err := decodeKey(tc.b); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", tc.name, err)
		}
		if _, err := NewDomain(conduit{}, nil...).Attach(0, tc.b); !errors.Is(err, ErrKey) {
			t.Errorf("Attach %s: %v, want ErrKey", tc.name, err)
		}
	}
}
