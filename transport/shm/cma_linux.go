package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readRemote copies len(dst) bytes at addr in process pid into dst with
// process_vm_readv: cross-memory attach, one copy by the kernel.
func readRemote(pid int, addr uint64, dst []byte) error {
	for off := 0; off < len(dst); {
		var local [1]unix.Iovec
		local[0].Base = &dst[off]
		local[0].SetLen(len(dst) - off)
		remote := [1]unix.RemoteIovec{{Base: uintptr(addr) + uintptr(off), Len: len(dst) - off}}
		n, err := unix.ProcessVMReadv(pid, local[:], remote[:], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("process_vm_readv of %d bytes from pid %d: %w", len(dst)-off, pid, err)
		}
		if n == 0 {
			return fmt.Errorf("process_vm_readv from pid %d read nothing at offset %d of %d", pid, off, len(dst))
		}
		off += n
	}
	return nil
}

// probeSelf reads this process's own memory through process_vm_readv: it
// fails where a seccomp filter or kernel configuration forbids the call.
func probeSelf() error {
	src := []byte("mpx cross-memory-attach probe")
	dst := make([]byte, len(src))
	if err := readRemote(os.Getpid(), uint64(uintptr(unsafe.Pointer(&src[0]))), dst); err != nil {
		return err
	}
	if !bytes.Equal(src, dst) {
		return errors.New("process_vm_readv returned different bytes")
	}
	return nil
}

// ptraceScope reads Yama's ptrace_scope; -1 when Yama is absent. Scope 1
// lets a process read only its descendants, so sibling ranks cannot.
func ptraceScope() int {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// Probe says which large-message path shared memory can use here: "cma"
// (process_vm_readv between ranks) or "copy" (pipelined through the
// rings), the latter with an error saying why cross-memory attach is not
// available. It honours shm_single_copy. It checks what one process can
// tell (seccomp, Yama's ptrace scope); each Transport also checks, per
// peer at connection, that it can read that peer's memory, and falls back
// to copy for the peers it cannot.
func Probe() (string, error) {
	switch singleCopyParam.Get() {
	case "copy":
		return "copy", errors.New("forced by shm_single_copy=copy")
	}
	if err := probeSelf(); err != nil {
		return "copy", err
	}
	if s := ptraceScope(); s >= 1 {
		caps, err := hasPtraceCap()
		if s >= 3 || err != nil || !caps {
			return "copy", fmt.Errorf("kernel.yama.ptrace_scope=%d forbids reading sibling processes", s)
		}
	}
	return "cma", nil
}

// hasPtraceCap reports whether CAP_SYS_PTRACE is effective, which lifts
// Yama scopes 1 and 2.
func hasPtraceCap() (bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false, err
			}
			return n&(1<<unix.CAP_SYS_PTRACE) != 0, nil
		}
	}
	return false, errors.New("no CapEff in /proc/self/status")
}
