package rdma

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultBackends are the direct backends of this build: cross-memory
// attach on Linux.
func DefaultBackends() []Backend { return []Backend{CMA{}} }

// CMA is the cross-memory-attach backend: process_vm_writev and
// process_vm_readv, one kernel copy between processes of one node. It
// needs the permission to ptrace the peer (same user, and Yama's
// ptrace_scope 0); Unpack probes it per peer by reading a token the
// peer's key names, so another node, another pid namespace or a refusal
// falls back to the emulation.
type CMA struct{}

// token is this process's probe word: a peer that reads it back through
// process_vm_readv, and finds what the key says, can reach our memory.
var token = func() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}()

// cmaKey: pid u32, address u64, token address u64, token [16].
const cmaKeyLen = 4 + 8 + 8 + 16

// Name implements Backend.
func (CMA) Name() string { return "cma" }

// Pack implements Backend: the key is the process id, the address, and
// where to find the probe token.
func (CMA) Pack(buf []byte) ([]byte, func(), error) {
	k := make([]byte, cmaKeyLen)
	binary.LittleEndian.PutUint32(k, uint32(os.Getpid()))
	if len(buf) > 0 {
		binary.LittleEndian.PutUint64(k[4:], uint64(uintptr(unsafe.Pointer(&buf[0]))))
	}
	binary.LittleEndian.PutUint64(k[12:], uint64(uintptr(unsafe.Pointer(&token[0]))))
	copy(k[20:], token)
	return k, func() {}, nil
}

// Unpack implements Backend, probing that the peer's memory is readable.
func (CMA) Unpack(peer int, key []byte) (Target, error) {
	if len(key) != cmaKeyLen {
		return nil, fmt.Errorf("%w: cma section of %d bytes, want %d", ErrKey, len(key), cmaKeyLen)
	}
	t := &cmaTarget{pid: int(binary.LittleEndian.Uint32(key)), addr: uintptr(binary.LittleEndian.Uint64(key[4:]))}
	got := make([]byte, 16)
	if err := t.io(got, uintptr(binary.LittleEndian.Uint64(key[12:])), false); err != nil {
		return nil, err
	}
	if !bytes.Equal(got, key[20:]) {
		return nil, errors.New("cma: the peer's probe token differs (another node or pid namespace)")
	}
	return t, nil
}

type cmaTarget struct {
	pid  int
	addr uintptr
}

func (t *cmaTarget) Put(src []byte, off int) error { return t.io(src, t.addr+uintptr(off), true) }
func (t *cmaTarget) Get(dst []byte, off int) error { return t.io(dst, t.addr+uintptr(off), false) }

// Flush implements Target: process_vm_writev has completed when it
// returns.
func (t *cmaTarget) Flush() error { return nil }
func (t *cmaTarget) Close() error { return nil }

// io copies between local and the peer's memory at addr, resuming after
// partial transfers.
func (t *cmaTarget) io(local []byte, addr uintptr, write bool) error {
	for off := 0; off < len(local); {
		l := [1]unix.Iovec{{Base: &local[off]}}
		l[0].SetLen(len(local) - off)
		r := [1]unix.RemoteIovec{{Base: addr + uintptr(off), Len: len(local) - off}}
		var n int
		var err error
		if write {
			n, err = unix.ProcessVMWritev(t.pid, l[:], r[:], 0)
		} else {
			n, err = unix.ProcessVMReadv(t.pid, l[:], r[:], 0)
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cma: %d bytes with pid %d: %w", len(local)-off, t.pid, err)
		}
		if n == 0 {
			return fmt.Errorf("cma: no progress with pid %d at offset %d of %d", t.pid, off, len(local))
		}
		off += n
	}
	return nil
}
