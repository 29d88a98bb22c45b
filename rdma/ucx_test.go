package rdma

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/param"
)

// fakeUCX stands for transport/ucx: regions by key, endpoints that copy
// into them and count what they carry.
type fakeUCX struct {
	mu      sync.Mutex
	regions map[string][]byte
	puts    int
	gets    int
	flushes int
	refuse  map[int]bool // ranks not reached over ucx
}

func (u *fakeUCX) RegisterKey(buf []byte) ([]byte, func(), error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := fmt.Sprintf("region-%d", len(u.regions))
	u.regions[k] = buf
	return []byte(k), func() {
		u.mu.Lock()
		delete(u.regions, k)
		u.mu.Unlock()
	}, nil
}

func (u *fakeUCX) peer(rank int) (RMAEndpoint, error) {
	if u.refuse[rank] {
		return nil, fmt.Errorf("rank %d is not reached over ucx", rank)
	}
	return fakeEP{u}, nil
}

type fakeEP struct{ u *fakeUCX }

func (e fakeEP) io(key []byte, off uint64, n int, count *int) ([]byte, error) {
	e.u.mu.Lock()
	defer e.u.mu.Unlock()
	*count++
	buf, ok := e.u.regions[string(key)]
	if !ok {
		return nil, errors.New("no such registration")
	}
	return buf[off : off+uint64(n)], nil
}

func (e fakeEP) Put(key []byte, off uint64, src []byte) error {
	b, err := e.io(key, off, len(src), &e.u.puts)
	copy(b, src)
	return err
}

func (e fakeEP) Get(key []byte, off uint64, dst []byte) error {
	b, err := e.io(key, off, len(dst), &e.u.gets)
	copy(dst, b)
	return err
}

func (e fakeEP) Flush() error {
	e.u.mu.Lock()
	e.u.flushes++
	e.u.mu.Unlock()
	return nil
}

// TestUCXBackend: Put, Get and Flush to a peer reached over ucx go through
// its endpoint; atomics go through the target; a peer not reached over
// ucx, and an empty region, take the next way in; rma_backend=ucx keeps
// cross-memory attach out.
func TestUCXBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		param   string
		size    int
		refuse  bool
		want    string
		viaUCX  bool
		withCMA bool
	}{
		{"ucx", "auto", 64, false, "ucx", true, true},
		{"not over ucx", "auto", 64, true, "cma", false, true},
		{"not over ucx, no cma", "auto", 64, true, "emulated", false, false},
		{"empty region", "auto", 0, false, "cma", false, true},
		{"empty region, no cma", "auto", 0, false, "emulated", false, false},
		{"rma_backend=ucx", "ucx", 64, false, "ucx", true, true},
		{"rma_backend=ucx, not over ucx", "ucx", 64, true, "emulated", false, true},
		{"rma_backend=emulate", "emulate", 64, false, "emulated", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := param.Set("rma_backend", tc.param); err != nil {
				t.Fatal(err)
			}
			defer param.Unset("rma_backend")
			u := &fakeUCX{regions: map[string][]byte{}, refuse: map[int]bool{}}
			if tc.refuse {
				u.refuse[1] = true
			}
			backends := []Backend{NewUCX(u, u.peer)}
			if tc.withCMA {
				backends = append(backends, DefaultBackends()...)
			}
			f := newFabric(2, 0, backends)
			mem := make([]byte, tc.size)
			reg, err := f.doms[1].Register(mem, nil)
			if err != nil {
				t.Fatal(err)
			}
			rm := attach(t, f, 0, 1, reg)
			if rm.Backend() != tc.want {
				t.Fatalf("backend %q, want %q", rm.Backend(), tc.want)
			}
			if tc.size == 0 {
				if err := rm.Put([]byte{1}, 0); !errors.Is(err, ErrRange) {
					t.Fatalf("a put into an empty region: %v, want ErrRange", err)
				}
				return
			}
			src := []byte("through the fabric")
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
			if err := rm.Put(make([]byte, 9), 56); !errors.Is(err, ErrRange) {
				t.Fatalf("a put past the end: %v, want ErrRange", err)
			}
			binary.LittleEndian.PutUint64(mem[48:], 40)
			old, err := rm.FetchAdd(48, 2)
			if err != nil || old != 40 || binary.LittleEndian.Uint64(mem[48:]) != 42 {
				t.Fatalf("fetch-add: old %d, %v; now %d", old, err, binary.LittleEndian.Uint64(mem[48:]))
			}
			u.mu.Lock()
			puts, gets, flushes := u.puts, u.gets, u.flushes
			u.mu.Unlock()
			want := [3]int{}
			if tc.viaUCX {
				want = [3]int{1, 1, 1} // the atomic went through the target
			}
			if got := [3]int{puts, gets, flushes}; got != want {
				t.Fatalf("ucx endpoint carried %d puts, %d gets, %d flushes; want %v", puts, gets, flushes, want)
			}
			reg.Deregister()
			u.mu.Lock()
			left := len(u.regions)
			u.mu.Unlock()
			if left != 0 {
				t.Fatalf("%d ucx registrations left after Deregister", left)
			}
		})
	}
}

// TestUCXUnpackErrors: an empty ucx section is a malformed key.
func TestUCXUnpackErrors(t *testing.T) {
	u := &fakeUCX{regions: map[string][]byte{}}
	if _, err := NewUCX(u, u.peer).Unpack(1, nil); !errors.Is(err, ErrKey) {
		t.Fatalf("empty section: %v, want ErrKey", err)
	}
}
