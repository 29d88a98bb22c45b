package shm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mpx-hpc/mpx/transport"
)

// A segment is one rank's inbound memory: a header, then one ring per
// local sender (itself included). Every field that two processes race on is
// a naturally aligned uint32 or uint64 accessed with sync/atomic; fields
// written by different sides sit on different cache lines so that a poll
// loop does not bounce the line a sender is writing.
//
//	header (hdrSize bytes, page-rounded)
//	  0 magic u64 | 8 version u32 | 12 slots u32 | 16 cells u32 | 20 cellSize u32
//	 24 owner pid u64 | 32 owner rank u32 | 36 ready u32 | 40 probe addr u64
//	 48 opened u32 | 52 closed u32 | 56 bell u32 | 64 tag [32]byte
//	128 doorbell u32 (futex word; senders bump it)          own cache line
//	192 sleepers u32 (owner goroutines in Block: 1 per futex
//	    sleeper, bellSleeper per one on the bell socket)    own cache line
//	256 slot table: slots × int32 sender rank
//	then, line-aligned, the pending bitmap: one bit per slot in u64 words,
//	  which a sender sets after publishing a cell and the owner clears as it
//	  drains, so that a poll reads a few words instead of every ring
//	ring i at hdrSize + i*stride (stride page-rounded):
//	  0 ready u32 | 4 cma u32 | 8 pid u64 | 16 tag [32]byte   producer, static
//	 64 waitSpace u64 | 72 closed u32                          producer, dynamic
//	128 head u64                                               consumer
//	256 cells × cellSize: seq u32 | n u32 | first cell: Header | payload...
//
// A peer maps the header of each local rank's segment when it connects, and
// its own ring in it only when it first sends there: with many ranks on a
// node, each talks to a few peers, and mapping N segments of N rings each
// in every rank cost more than the job.
const (
	segMagic   = 0x31304d48535850 // "PXSHM01" little-endian, with a leading byte of 0
	segVersion = 2

	offMagic    = 0
	offVersion  = 8
	offSlots    = 12
	offCells    = 16
	offCellSize = 20
	offPid      = 24
	offRank     = 32
	offReady    = 36
	offProbe    = 40
	offOpened   = 48
	offClosed   = 52
	offBell     = 56 // nonzero: the owner listens on its bell socket
	offTag      = 64
	offDoorbell = 128
	offSleepers = 192
	offSlotTab  = 256

	rOffReady     = 0
	rOffCMA       = 4
	rOffPid       = 8
	rOffTag       = 16
	rOffWaitSpace = 64
	rOffClosed    = 72
	rOffHead      = 128
	ringCtl       = 256

	cellHdr   = 8                              // seq u32, n u32
	firstRoom = cellHdr + transport.HeaderSize // payload offset in a frame's first cell
	tagSize   = 32
	pageSize  = 4096
	lineSize  = 64

	maxSlots    = 1 << 16
	minCellSize = 128
	maxCellSize = 1 << 20
	maxCells    = 1 << 20
)

// CMA verdicts a producer leaves in its ring for the segment's owner.
const (
	cmaUnknown = 0
	cmaOK      = 1
	cmaFailed  = 2
)

type segment struct {
	mem      []byte // this rank's own segment: all of it; a peer's: its header
	name     string
	slots    []int // slot -> sender's world rank
	ncells   int
	cellSize int
	hdrSize  int
	stride   int
	bitmap   int // offset of the pending bitmap

	// A peer's segment only: the open file until this rank's ring in it is
	// mapped (the name may be gone by then), and that ring's mapping.
	fd      int
	ringMem []byte
	inArena bool // the header lies in the transport's reservation

	bellSA  unix.RawSockaddrUnix // the owner's bell socket
	bellLen uint32
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// bitmapOff is where the pending bitmap starts, and headerEnd where its
// last word ends: the bytes of a header that mean anything.
func bitmapOff(slots int) int   { return roundUp(offSlotTab+4*slots, lineSize) }
func headerEnd(slots int) int   { return bitmapOff(slots) + 8*bitmapWords(slots) }
func bitmapWords(slots int) int { return (slots + 63) / 64 }

// layout computes the header size, ring stride and total size.
func layout(slots, ncells, cellSize int) (hdrSize, stride, size int) {
	hdrSize = roundUp(headerEnd(slots), pageSize)
	stride = roundUp(ringCtl+ncells*cellSize, pageSize)
	return hdrSize, stride, hdrSize + slots*stride
}

func (s *segment) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }

// pendingWord is the bitmap word holding slot's bit.
func (s *segment) pendingWord(slot int) *uint64 {
	return (*uint64)(unsafe.Pointer(&s.mem[s.bitmap+8*(slot/64)]))
}

// ring returns the shared view of slot's ring in this rank's own segment.
func (s *segment) ring(slot int) []byte {
	off := s.hdrSize + slot*s.stride
	return s.mem[off : off+s.stride : off+s.stride]
}

// mapRing maps slot's ring of a peer's segment from its open file, once,
// and closes the file.
func (s *segment) mapRing(slot int) ([]byte, error) {
	if s.ringMem != nil {
		return s.ringMem, nil
	}
	if s.fd < 0 {
		return nil, fmt.Errorf("shm: segment %s is no longer open", s.name)
	}
	mem, err := unix.Mmap(s.fd, int64(s.hdrSize+slot*s.stride), s.stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mapping ring %d of segment %s: %w", slot, s.name, err)
	}
	unix.Close(s.fd)
	s.fd, s.ringMem = -1, mem
	return mem, nil
}

// slotOf finds rank's ring, or -1.
func (s *segment) slotOf(rank int) int {
	for i, r := range s.slots {
		if r == rank {
			return i
		}
	}
	return -1
}

// segmentTag proves that the segment's creator knows the job secret.
func segmentTag(secret []byte, jobID string, rank int) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mpx shm segment " + jobID + " " + strconv.Itoa(rank)))
	return m.Sum(nil)
}

// producerTag proves that the sender writing into a ring knows the secret.
func producerTag(secret []byte, jobID string, src, dst int) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mpx shm producer " + jobID + " " + strconv.Itoa(src) + " " + strconv.Itoa(dst)))
	return m.Sum(nil)
}

// createSegment makes and maps rank's segment under /dev/shm, exclusively:
// a leftover file of the same name is an error, not something to reuse.
func createSegment(name string, rank, pid int, slots []int, ncells, cellSize int, tag []byte, probe uint64) (*segment, error) {
	hdrSize, stride, size := layout(len(slots), ncells, cellSize)
	path := filepath.Join(shmDir, name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shm: creating segment %s: %w", path, err)
	}
	defer unix.Close(fd)
	// Reserve the memory now so that a full /dev/shm is an error here, not
	// a SIGBUS at the first frame.
	if err := unix.Fallocate(fd, 0, 0, int64(size)); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) {
			unix.Unlink(path)
			return nil, fmt.Errorf("shm: reserving %d bytes for segment %s (%d rings of %d cells of %d bytes; lower shm_ring_size or grow /dev/shm): %w",
				size, path, len(slots), ncells, cellSize, err)
		}
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			unix.Unlink(path)
			return nil, fmt.Errorf("shm: sizing segment %s to %d bytes: %w", path, size, err)
		}
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Unlink(path)
		return nil, fmt.Errorf("shm: mapping segment %s: %w", path, err)
	}
	s := &segment{mem: mem, name: name, slots: slots, ncells: ncells, cellSize: cellSize, hdrSize: hdrSize, stride: stride,
		bitmap: bitmapOff(len(slots)), fd: -1}
	s.bellSA, s.bellLen = bellAddr(name)
	binary.LittleEndian.PutUint64(mem[offMagic:], segMagic)
	binary.LittleEndian.PutUint32(mem[offVersion:], segVersion)
	binary.LittleEndian.PutUint32(mem[offSlots:], uint32(len(slots)))
	binary.LittleEndian.PutUint32(mem[offCells:], uint32(ncells))
	binary.LittleEndian.PutUint32(mem[offCellSize:], uint32(cellSize))
	binary.LittleEndian.PutUint64(mem[offPid:], uint64(pid))
	binary.LittleEndian.PutUint32(mem[offRank:], uint32(rank))
	binary.LittleEndian.PutUint64(mem[offProbe:], probe)
	copy(mem[offTag:offTag+tagSize], tag)
	for i, r := range slots {
		binary.LittleEndian.PutUint32(mem[offSlotTab+4*i:], uint32(r))
	}
	atomic.StoreUint32(s.u32(offReady), 1)
	return s, nil
}

// openSegment maps the header of a peer's segment, checks it, and keeps
// the file open for mapRing. A header of len(at) bytes is mapped over at,
// part of a reservation that is unmapped as a whole: one munmap (and one
// TLB shootdown) for all of a rank's peers instead of one each.
func openSegment(name string, at []byte) (*segment, error) {
	path := filepath.Join(shmDir, name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: opening segment %s: %w", path, err)
	}
	fail := func(err error) (*segment, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("shm: segment %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(fmt.Errorf("stat: %w", err))
	}
	// The fixed fields first, for the number of slots, then the header
	// they imply.
	fixed := make([]byte, offSlotTab)
	if n, err := unix.Pread(fd, fixed, 0); err != nil || n != len(fixed) {
		return fail(fmt.Errorf("reading the header: %d bytes, %v", n, err))
	}
	if _, err := parseHeader(fixed, st.Size); err != nil && !errors.Is(err, errShortHeader) {
		return fail(err)
	}
	slots := int(binary.LittleEndian.Uint32(fixed[offSlots:]))
	hdrSize := roundUp(headerEnd(slots), pageSize)
	if int64(hdrSize) > st.Size {
		return fail(fmt.Errorf("size %d, shorter than its %d-byte header", st.Size, hdrSize))
	}
	var mem []byte
	inArena := len(at) == hdrSize
	if inArena {
		// MAP_POPULATE: the pages are read at once, so faulting them in one
		// by one is spared.
		var p unsafe.Pointer
		p, err = unix.MmapPtr(fd, 0, unsafe.Pointer(&at[0]), uintptr(hdrSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED|unix.MAP_POPULATE)
		mem = unsafe.Slice((*byte)(p), hdrSize)
	} else {
		mem, err = unix.Mmap(fd, 0, hdrSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	}
	if err != nil {
		return fail(fmt.Errorf("mapping the header: %w", err))
	}
	s, err := parseHeader(mem, st.Size)
	if err != nil {
		if !inArena {
			unix.Munmap(mem)
		}
		return fail(err)
	}
	s.mem, s.name, s.fd, s.inArena = mem, name, fd, inArena
	s.bellSA, s.bellLen = bellAddr(name)
	return s, nil
}

// errShortHeader: the bytes given end before the slot table and bitmap.
var errShortHeader = errors.New("header cut short")

// parseHeader checks a header written by another process, of a segment of
// size bytes; hdr need only reach the end of the pending bitmap. The
// segment returned has no mapping.
func parseHeader(hdr []byte, size int64) (*segment, error) {
	if len(hdr) < offSlotTab {
		return nil, fmt.Errorf("%w: %d bytes, the fixed fields take %d", errShortHeader, len(hdr), offSlotTab)
	}
	if m := binary.LittleEndian.Uint64(hdr[offMagic:]); m != segMagic {
		return nil, fmt.Errorf("bad magic %#x (not an mpx segment)", m)
	}
	if v := binary.LittleEndian.Uint32(hdr[offVersion:]); v != segVersion {
		return nil, fmt.Errorf("layout version %d, this build speaks %d", v, segVersion)
	}
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&hdr[offReady]))) != 1 {
		return nil, errors.New("header not initialised")
	}
	slots := int(binary.LittleEndian.Uint32(hdr[offSlots:]))
	ncells := int(binary.LittleEndian.Uint32(hdr[offCells:]))
	cellSize := int(binary.LittleEndian.Uint32(hdr[offCellSize:]))
	if slots < 1 || slots > maxSlots {
		return nil, fmt.Errorf("%d ring slots", slots)
	}
	if ncells < 2 || ncells > maxCells || ncells&(ncells-1) != 0 || cellSize < minCellSize || cellSize > maxCellSize || cellSize%lineSize != 0 {
		return nil, fmt.Errorf("rings of %d cells of %d bytes", ncells, cellSize)
	}
	hdrSize, stride, want := layout(slots, ncells, cellSize)
	if int64(want) != size {
		return nil, fmt.Errorf("size %d, layout says %d", size, want)
	}
	if end := headerEnd(slots); len(hdr) < end {
		return nil, fmt.Errorf("%w: %d bytes, %d slots need %d", errShortHeader, len(hdr), slots, end)
	}
	s := &segment{slots: make([]int, slots), ncells: ncells, cellSize: cellSize, hdrSize: hdrSize, stride: stride,
		bitmap: bitmapOff(slots), fd: -1}
	for i := range s.slots {
		s.slots[i] = int(int32(binary.LittleEndian.Uint32(hdr[offSlotTab+4*i:])))
	}
	return s, nil
}

func (s *segment) pid() int      { return int(binary.LittleEndian.Uint64(s.mem[offPid:])) }
func (s *segment) rank() int     { return int(int32(binary.LittleEndian.Uint32(s.mem[offRank:]))) }
func (s *segment) probe() uint64 { return binary.LittleEndian.Uint64(s.mem[offProbe:]) }
func (s *segment) tag() []byte   { return s.mem[offTag : offTag+tagSize] }

// unmap releases the segment's mappings and file.
func (s *segment) unmap() error {
	var errs []error
	if s.ringMem != nil {
		errs = append(errs, unix.Munmap(s.ringMem))
		s.ringMem = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	if !s.inArena {
		errs = append(errs, unix.Munmap(s.mem))
	}
	return errors.Join(errs...)
}
func (s *segment) path() string { return filepath.Join(shmDir, s.name) }
func (s *segment) closed() bool { return atomic.LoadUint32(s.u32(offClosed)) != 0 }

// notify marks slot's ring pending, then rings the owner's doorbell if it
// sleeps. Called after publishing a cell: the owner clears a bit before it
// drains that ring, so a bit found set already covers this cell too.
func (s *segment) notify(word *uint64, bit uint64) {
	if atomic.LoadUint64(word)&bit == 0 {
		atomic.OrUint64(word, bit)
	}
	s.wakeOwner()
}

// wakeOwner rings the owner's doorbell if it sleeps. Called after marking a
// ring pending, so that the owner, which raised sleepers before checking
// the bitmap, either sees the mark or is woken (both sides use sequentially
// consistent atomics: Dekker's pattern).
func (s *segment) wakeOwner() {
	if v := atomic.LoadUint32(s.u32(offSleepers)); v != 0 {
		s.ringBell(v)
	}
}

// ringBell bumps the doorbell and wakes the sleepers that v, the sleepers
// word, counts: futex sleepers with a futex wake, a bell sleeper with a
// byte on the bell socket.
func (s *segment) ringBell(v uint32) {
	atomic.AddUint32(s.u32(offDoorbell), 1)
	if v%bellSleeper != 0 {
		futexWakeAll(s.u32(offDoorbell))
	}
	if v >= bellSleeper && atomic.LoadUint32(s.u32(offBell)) != 0 {
		sendBell(&s.bellSA, s.bellLen)
	}
}
