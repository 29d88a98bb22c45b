// Package shm is the shared-memory transport: ranks on one node exchange
// frames through rings in POSIX shared memory and move large messages with
// one kernel copy (cross-memory attach, process_vm_readv).
//
// Each rank creates one inbound segment, /dev/shm/mpx-<jobid>-<rank>,
// holding a single-producer single-consumer ring per local sender (each
// cut down, with many local ranks, so that all fit in shm_segment_size), a
// bitmap in which senders mark the rings they wrote, and a doorbell word.
// A poll reads the bitmap, not every ring; a rank maps its peers' headers
// when it connects and its ring in a peer's segment when it first sends. A sender writes a frame into its ring in the receiver's
// segment, one cell for a small frame (header and payload inline) or a
// series of cells that the receiver copies out while the rest is written.
// Frames are delivered only when the receiver polls (transport.Poller):
// whoever waits drives progress, spinning briefly and then sleeping on the
// doorbell, which a sender rings only when the receiver sleeps: a futex, or,
// with more local ranks than cores, an abstract unix socket read through
// Go's network poller. Peers' exits come through their pidfds, in an epoll
// set that one goroutine waits on in the poller.
//
// No file outlives a job: after every local peer has opened a segment
// (ConnectAll, then a job-wide fence, then Seal) its name is removed while
// the mappings stay valid, and the launcher's RemoveJob is the backstop for
// ranks killed before that.
package shm

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

// Parameters of the shared-memory transport.
var (
	ringSizeParam = param.NewSize("shm_ring_size", 256<<10,
		"bytes of each per-sender ring in a rank's shared-memory segment")
	cellSizeParam = param.NewSize("shm_cell_size", 4<<10,
		"bytes of one shared-memory ring cell; frames up to a cell minus 56 bytes move in one cell, larger ones in fragments")
	segmentSizeParam = param.NewSize("shm_segment_size", 8<<20,
		"bytes of all the inbound rings of one rank's shared-memory segment, at most: with many ranks on a node each ring is cut down to fit, to no fewer than 8 cells")
	singleCopyParam = param.NewEnum("shm_single_copy", "auto", []string{"auto", "cma", "copy"},
		"large shared-memory messages: cma (process_vm_readv, one copy), copy (pipelined through the rings), auto (cma where the kernel allows it)")
)

// bellAbove is the number of local ranks above which waiters sleep on the
// bell socket: ranks that outnumber the cores gain from sleeping in the
// poller (no hand-off of the P at every sleep), while a few ranks on spare
// cores wake sooner from the futex (2-rank ping-pong measured slower on
// the bell). Tests lower it.
var bellAbove = runtime.NumCPU()

// maxFrame bounds one frame's payload, so that a corrupt length cannot ask
// the handler for an absurd buffer.
const maxFrame = 1 << 30

// Config configures New.
type Config struct {
	// Rank is this rank's world rank. Zero is rank 0.
	Rank int
	// Size is the number of ranks in the job; it must exceed Rank. Zero is
	// an error unless Rank is 0, when it means a job of one.
	Size int
	// JobID names the segments (mpx-<JobID>-<rank>); letters, digits, '.'
	// and '_'. Empty is an error.
	JobID string
	// Secret is the job secret; senders and segment owners prove knowledge
	// of it before any frame is accepted. Nil means an empty key, which
	// still keeps out other jobs' ranks only through the 0600 file mode.
	Secret []byte
	// Handler receives inbound frames (during Poll). Nil is an error.
	Handler transport.Handler
	// LocalPeers are the world ranks on this node, this rank included, in
	// any order; this segment holds a ring for each. Nil means every rank
	// 0..Size-1.
	LocalPeers []int
	// RingSize is the bytes of each inbound ring; zero means the
	// shm_ring_size parameter. It must hold at least two cells, and is
	// used down to the largest power-of-two number of cells it holds.
	RingSize int
	// CellSize is the bytes of one cell, a multiple of 64 of at least 128;
	// zero means the shm_cell_size parameter.
	CellSize int
	// SegmentSize bounds the bytes of all rings together: with many local
	// peers each ring gets fewer cells, down to minScaledCells. Zero means
	// the shm_segment_size parameter.
	SegmentSize int
	// SingleCopy is "auto", "cma" or "copy"; empty means the
	// shm_single_copy parameter.
	SingleCopy string
}

// Transport is one rank's shared-memory transport. It implements
// transport.Transport and transport.Poller; its endpoints implement
// transport.SingleCopy when both processes can read each other's memory.
type Transport struct {
	rank, size int
	jobID      string
	secret     []byte
	h          transport.Handler
	pid        int
	seg        *segment
	bell       *bell // nil: waiters sleep on the futex only
	ncells     int
	cellSize   int
	cma        bool  // single copy wanted and possible in this process
	cmaForced  bool  // shm_single_copy=cma: never fall back
	cmaWhy     error // why not, when !cma
	probe      []byte

	in    []*consumer // per slot of this rank's segment
	pend  []*uint64   // the words of this segment's pending bitmap
	arena []byte      // reservation holding the peers' headers, guarded by mu
	peers []*peer     // by world rank; nil for ranks on other nodes

	mu      sync.Mutex // connecting; watch list
	exits   *exitWatch // peers' exits as they happen; nil: polled in watch
	watch   []*peer    // peers whose pid is known, polled for exit checks
	checkMu sync.Mutex // one exit check at a time
	fds     []unix.PollFd
	pids    []int
	dead    []bool

	users       atomic.Int64 // calls inside the mapping; Close waits for zero
	closed      atomic.Bool
	wake        atomic.Uint32
	polls       atomic.Uint32
	lastCheck   atomic.Int64
	deadPending atomic.Bool
}

// peer is what this rank knows of one local rank.
type peer struct {
	rank   int
	in     *consumer                // its ring in this rank's segment
	out    atomic.Pointer[segment]  // its segment, once connected
	ep     atomic.Pointer[endpoint] // the endpoint, once made
	pidv   atomic.Int64             // its pid, once known
	gone   atomic.Uint32            // peerAlive, peerClosed or peerExited, as last checked
	failed atomic.Bool              // Handler.Fail was called
	pidfd  int                      // guarded by Transport.mu
}

// What an exit check found of a peer.
const (
	peerAlive  = 0
	peerClosed = 1 // closed its transport
	peerExited = 2 // its process is gone without closing
)

func (p *peer) pid() int { return int(p.pidv.Load()) }

// closedFlag tells whether the peer marked its segment or its ring in
// this rank's segment closed.
func (p *peer) closedFlag() bool {
	if out := p.out.Load(); out != nil && out.closed() {
		return true
	}
	return p.in.producerClosed()
}

// learnPid records a peer's pid from its address or its ring, so that its
// exit is noticed.
func (p *peer) learnPid(t *Transport, pid int) {
	t.mu.Lock()
	p.learnPidLocked(t, pid)
	t.mu.Unlock()
}

func (p *peer) learnPidLocked(t *Transport, pid int) {
	if pid <= 0 || p.rank == t.rank || !p.pidv.CompareAndSwap(0, int64(pid)) {
		return
	}
	p.pidfd = watchPid(pid)
	if p.pidfd >= 0 && t.exits != nil && t.exits.add(p.pidfd, p.rank) {
		return
	}
	t.watch = append(t.watch, p)
}

// New creates this rank's segment under /dev/shm and returns the transport.
// Peers reach it through Address; call ConnectAll and, after every local
// rank has done so, Seal.
func New(cfg Config) (*Transport, error) {
	if cfg.Size == 0 && cfg.Rank == 0 {
		cfg.Size = 1
	}
	if cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return nil, fmt.Errorf("shm: rank %d outside a job of %d", cfg.Rank, cfg.Size)
	}
	if err := checkJobID(cfg.JobID); err != nil {
		return nil, err
	}
	if cfg.Handler == nil {
		return nil, errors.New("shm: Config.Handler is nil")
	}
	ringSize, cellSize := cfg.RingSize, cfg.CellSize
	if ringSize == 0 {
		ringSize = ringSizeParam.Get()
	}
	if cellSize == 0 {
		cellSize = cellSizeParam.Get()
	}
	if cellSize < minCellSize || cellSize > maxCellSize || cellSize%lineSize != 0 {
		return nil, fmt.Errorf("shm: cell size %d: want a multiple of %d between %d and %d (shm_cell_size)", cellSize, lineSize, minCellSize, maxCellSize)
	}
	ncells := ringSize / cellSize
	if ncells < 2 || ncells > maxCells {
		return nil, fmt.Errorf("shm: ring of %d bytes holds %d cells of %d bytes; want 2 to %d (shm_ring_size)", ringSize, ncells, cellSize, maxCells)
	}
	// A power of two, so that a ring index is a mask away from a count.
	ncells = 1 << (bits.Len(uint(ncells)) - 1)
	local := cfg.LocalPeers
	if local == nil {
		local = make([]int, cfg.Size)
		for i := range local {
			local[i] = i
		}
	}
	local = slices.Clone(local)
	sort.Ints(local)
	local = slices.Compact(local)
	segSize := cfg.SegmentSize
	if segSize == 0 {
		segSize = segmentSizeParam.Get()
	}
	if segSize < 0 {
		return nil, fmt.Errorf("shm: segment size %d is negative (shm_segment_size)", segSize)
	}
	ncells = scaledCells(ncells, cellSize, len(local), segSize)
	if len(local) > maxSlots {
		return nil, fmt.Errorf("shm: %d local ranks, at most %d", len(local), maxSlots)
	}
	if local[0] < 0 || local[len(local)-1] >= cfg.Size {
		return nil, fmt.Errorf("shm: local peers %v include ranks outside a job of %d", local, cfg.Size)
	}
	if _, ok := slices.BinarySearch(local, cfg.Rank); !ok {
		return nil, fmt.Errorf("shm: local peers %v do not include this rank %d", local, cfg.Rank)
	}

	t := &Transport{
		rank: cfg.Rank, size: cfg.Size, jobID: cfg.JobID, secret: slices.Clone(cfg.Secret),
		h: cfg.Handler, pid: os.Getpid(), ncells: ncells, cellSize: cellSize,
		peers: make([]*peer, cfg.Size),
	}
	mode := cfg.SingleCopy
	if mode == "" {
		mode = singleCopyParam.Get()
	}
	switch mode {
	case "copy":
		t.cmaWhy = errors.New("shm_single_copy=copy")
	case "auto", "cma":
		t.cmaForced = mode == "cma"
		if err := probeSelf(); err != nil {
			if t.cmaForced {
				return nil, fmt.Errorf("shm: shm_single_copy=cma but cross-memory attach fails: %w", err)
			}
			t.cmaWhy = err
		} else {
			t.cma = true
		}
	default:
		return nil, fmt.Errorf("shm: single-copy mode %q: want auto, cma or copy", mode)
	}

	tag := segmentTag(t.secret, t.jobID, t.rank)
	// Peers read this heap copy of the tag with process_vm_readv to check
	// that they may read this process's memory at all. Go's heap does not
	// move, and t keeps it alive.
	t.probe = slices.Clone(tag)
	seg, err := createSegment(SegmentName(t.jobID, t.rank), t.rank, t.pid, local, ncells, cellSize, tag,
		uint64(uintptr(unsafe.Pointer(&t.probe[0]))))
	if err != nil {
		return nil, err
	}
	t.seg = seg
	if len(local) > bellAbove {
		if b, err := newBell(seg.name); err == nil {
			t.bell = b
			atomic.StoreUint32(seg.u32(offBell), 1)
		}
	}
	for w := range bitmapWords(len(local)) {
		t.pend = append(t.pend, seg.pendingWord(64*w))
	}
	t.in = make([]*consumer, len(local))
	for slot, r := range local {
		p := &peer{rank: r, pidfd: -1}
		t.peers[r] = p
		p.in = newConsumer(t, seg, slot, p)
		t.in[slot] = p.in
	}
	t.exits = newExitWatch(t)
	t.lastCheck.Store(time.Now().UnixNano())
	return t, nil
}

// minScaledCells is the fewest cells shm_segment_size cuts a ring down to:
// enough for an eager message of four cells to stream through half a ring.
const minScaledCells = 8

// scaledCells is the cells of each of nrings rings of cellSize-byte cells,
// ncells unless that many exceed segSize bytes together: then the largest
// power of two that fits, but not below minScaledCells (or ncells if less).
// Every rank on a node has as many local peers, so all agree.
func scaledCells(ncells, cellSize, nrings, segSize int) int {
	fit := segSize / max(nrings*cellSize, 1)
	if fit >= ncells {
		return ncells
	}
	if fit < minScaledCells {
		return min(ncells, minScaledCells)
	}
	return 1 << (bits.Len(uint(fit)) - 1)
}

// Name is "shm".
func (t *Transport) Name() string { return "shm" }

// Limits advertises an eager limit of four cells' worth (the pipelined copy
// beats a rendezvous handshake below that) and frames up to 1 GiB.
// eagerLimit is the largest message sent eagerly: four cells' payload, or
// half the ring if that is less, so that an eager message never waits for
// more than half a ring to drain.
func eagerLimit(cellSize, ncells int) int {
	return min(4*(cellSize-cellHdr), (ncells/2)*(cellSize-cellHdr))
}

// EagerLimit is the eager limit a transport made with the current
// shm_cell_size and shm_ring_size parameters advertises, for `mpx info`.
func EagerLimit() int {
	cellSize, ringSize := cellSizeParam.Get(), ringSizeParam.Get()
	ncells := max(ringSize/cellSize, 2)
	return eagerLimit(cellSize, 1<<(bits.Len(uint(ncells))-1))
}

func (t *Transport) Limits() transport.Limits {
	return transport.Limits{
		EagerLimit: eagerLimit(t.cellSize, t.ncells),
		MaxFrame:   maxFrame,
		Latency:    500 * time.Nanosecond,
	}
}

// Address is "mpx-<jobid>-<rank>@<pid>".
func (t *Transport) Address() string { return Addr{Segment: t.seg.name, Pid: t.pid}.String() }

// SingleCopyPath says which large-message path this transport uses where
// peers allow it: "cma" or "copy", with the reason for copy.
func (t *Transport) SingleCopyPath() (string, error) {
	if t.cma {
		return "cma", nil
	}
	return "copy", t.cmaWhy
}

// enter admits a call that touches the mappings; false once closed.
func (t *Transport) enter() bool {
	t.users.Add(1)
	if t.closed.Load() {
		t.users.Add(-1)
		return false
	}
	return true
}

func (t *Transport) exit() { t.users.Add(-1) }

// ConnectAll opens the segment of every local peer in peers (world rank to
// business card) now, so that Seal may remove the names afterwards: it
// checks and maps each one's header and keeps the file open, and maps this
// rank's ring in it when Endpoint is first asked for that peer. Ranks not
// on this node are an error; this rank itself is accepted and ignored.
func (t *Transport) ConnectAll(peers map[int]string) error {
	if !t.enter() {
		return transport.ErrClosed
	}
	defer t.exit()
	ranks := make([]int, 0, len(peers))
	for r := range peers {
		ranks = append(ranks, r)
	}
	sort.Ints(ranks)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range ranks {
		if _, err := t.attachLocked(r, peers[r]); err != nil {
			return err
		}
	}
	return nil
}

// arenaSlot is where rank's segment header is mapped: a slot of a
// reservation made at the first call, of one header (as long as this
// rank's own) per local peer. Nil, for a separate mapping, if the
// reservation fails. The caller holds t.mu.
func (t *Transport) arenaSlot(rank int) []byte {
	if t.arena == nil {
		mem, err := unix.Mmap(-1, 0, len(t.seg.slots)*t.seg.hdrSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return nil
		}
		t.arena = mem
	}
	slot := t.seg.slotOf(rank)
	return t.arena[slot*t.seg.hdrSize : (slot+1)*t.seg.hdrSize]
}

// ConnectLocal opens, by name, the segment of every rank in ranks that made
// one, as ConnectAll does, and returns the business card of each of those
// (this rank's included): the job's key-value service need not carry N
// cards to each of N ranks. A rank without a segment (one that fell back
// to another transport) is left out; any other failure is an error. Call
// it once every rank of the node has called New (after a fence).
func (t *Transport) ConnectLocal(ranks []int) (map[int]string, error) {
	if !t.enter() {
		return nil, transport.ErrClosed
	}
	defer t.exit()
	t.mu.Lock()
	defer t.mu.Unlock()
	cards := make(map[int]string, len(ranks))
	for _, r := range ranks {
		a := Addr{Segment: SegmentName(t.jobID, r)}
		out, err := t.attachAddrLocked(r, a, a.Segment)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, err
		}
		cards[r] = Addr{Segment: out.name, Pid: out.pid()}.String()
	}
	return cards, nil
}

// Seal removes this rank's segment name from /dev/shm; the mappings of
// every rank that opened it stay valid. Call it once every local rank has
// connected (after ConnectAll and a job-wide fence): later opens fail.
func (t *Transport) Seal() error {
	if !t.enter() {
		return transport.ErrClosed
	}
	defer t.exit()
	if err := unix.Unlink(t.seg.path()); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("shm: sealing %s: %w", t.seg.path(), err)
	}
	return nil
}

// Endpoint returns the endpoint to peer, opening its segment if ConnectAll
// has not.
func (t *Transport) Endpoint(peer int, addr string) (transport.Endpoint, error) {
	if peer < 0 || peer >= t.size {
		return nil, fmt.Errorf("shm: endpoint to rank %d outside a job of %d", peer, t.size)
	}
	p := t.peers[peer]
	if p == nil {
		return nil, fmt.Errorf("shm: rank %d is not on this node", peer)
	}
	if !t.enter() {
		return nil, &transport.PeerError{Op: "dial", Peer: peer, Addr: addr, Err: transport.ErrClosed}
	}
	if e := p.ep.Load(); e != nil {
		t.exit()
		return e.iface, nil
	}
	defer t.exit()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.connectLocked(peer, addr)
	if err != nil {
		return nil, err
	}
	return e.iface, nil
}

// attachLocked opens peer's segment and checks that it is the peer's, once.
// The caller holds t.mu.
func (t *Transport) attachLocked(rank int, addr string) (*segment, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	return t.attachAddrLocked(rank, a, addr)
}

// attachAddrLocked is attachLocked of a parsed address; a zero Pid takes
// the pid the segment's header records (its tag proves the secret).
func (t *Transport) attachAddrLocked(rank int, a Addr, addr string) (*segment, error) {
	if rank < 0 || rank >= t.size || t.peers[rank] == nil {
		return nil, fmt.Errorf("shm: rank %d is not on this node (local ranks %v)", rank, t.seg.slots)
	}
	p := t.peers[rank]
	if a.Pid == 0 && rank == t.rank {
		a.Pid = t.pid
	}
	perr := func(err error) error { return &transport.PeerError{Op: "dial", Peer: rank, Addr: addr, Err: err} }
	if out := p.out.Load(); out != nil {
		if out.name != a.Segment || a.Pid != 0 && out.pid() != a.Pid {
			return nil, perr(fmt.Errorf("segment %s of pid %d is attached already", out.name, out.pid()))
		}
		return out, nil
	}
	if rank == t.rank {
		if a.Segment != t.seg.name || a.Pid != t.pid {
			return nil, perr(errors.New("address of this rank is not this transport's"))
		}
		p.out.Store(t.seg)
		return t.seg, nil
	}
	out, err := openSegment(a.Segment, t.arenaSlot(rank))
	if err != nil {
		return nil, perr(err)
	}
	bad := func(err error) (*segment, error) {
		out.unmap()
		return nil, perr(err)
	}
	if a.Pid == 0 {
		a.Pid = out.pid()
	}
	if out.rank() != rank || out.pid() != a.Pid || a.Pid <= 0 {
		return bad(fmt.Errorf("segment belongs to rank %d pid %d", out.rank(), out.pid()))
	}
	if !hmac.Equal(out.tag(), segmentTag(t.secret, t.jobID, rank)) {
		return bad(fmt.Errorf("%w: segment's owner does not know the job secret", transport.ErrAuth))
	}
	if out.slotOf(t.rank) < 0 {
		return bad(fmt.Errorf("segment has no ring for rank %d (local peers %v disagree)", t.rank, out.slots))
	}
	// The last local peer to open a segment removes its name: from then
	// on no file is left behind even if every rank is killed.
	if int(atomic.AddUint32(out.u32(offOpened), 1)) == len(out.slots)-1 {
		unix.Unlink(out.path())
	}
	p.out.Store(out)
	p.learnPidLocked(t, a.Pid)
	return out, nil
}

// connectLocked attaches peer's segment if need be, claims this rank's ring
// in it and makes the endpoint. The caller holds t.mu.
func (t *Transport) connectLocked(rank int, addr string) (*endpoint, error) {
	out, err := t.attachLocked(rank, addr)
	if err != nil {
		return nil, err
	}
	p := t.peers[rank]
	if e := p.ep.Load(); e != nil {
		return e, nil
	}
	perr := func(err error) error { return &transport.PeerError{Op: "dial", Peer: rank, Addr: addr, Err: err} }
	slot := out.slotOf(t.rank)
	var r []byte
	if out == t.seg {
		r = out.ring(slot)
	} else if r, err = out.mapRing(slot); err != nil {
		return nil, perr(err)
	}
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&r[rOffReady]))) != 0 {
		return nil, perr(fmt.Errorf("ring for rank %d already claimed", t.rank))
	}
	// Can each side read the other's memory? This side finds out by reading
	// the owner's probe; the owner finds out the same way when it connects
	// here, and leaves its verdict in its ring of this segment.
	verdict := uint32(cmaFailed)
	if t.cma && (rank == t.rank || t.readProbe(out.pid(), out) == nil) {
		verdict = cmaOK
	}
	copy(r[rOffTag:rOffTag+tagSize], producerTag(t.secret, t.jobID, t.rank, rank))
	*(*uint64)(unsafe.Pointer(&r[rOffPid])) = uint64(t.pid)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&r[rOffCMA])), verdict)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&r[rOffReady])), 1)
	e := &endpoint{t: t, p: p, out: out, prod: newProducer(out, slot, r)}
	e.iface = e
	if t.cmaForced || verdict == cmaOK && t.peerReadsUs(p) {
		e.iface = &cmaEndpoint{e}
	}
	p.ep.Store(e)
	return e, nil
}

// readProbe checks that this process may read pid's memory.
func (t *Transport) readProbe(pid int, out *segment) error {
	got := make([]byte, tagSize)
	if err := readRemote(pid, out.probe(), got); err != nil {
		return err
	}
	if !hmac.Equal(got, out.tag()) {
		return errors.New("probe read returned other bytes")
	}
	return nil
}

// peerReadsUs is the peer's own verdict on reading this process, if it has
// connected already; a peer not yet connected is assumed to fare as this
// side did (ptrace rules are symmetric between ranks of one user).
func (t *Transport) peerReadsUs(p *peer) bool {
	r := t.seg.ring(t.seg.slotOf(p.rank))
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&r[rOffReady]))) == 0 {
		return true
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&r[rOffCMA]))) == cmaOK
}

// Poll delivers every frame waiting in this rank's rings. Safe for
// concurrent use: a ring another goroutine is draining is skipped.
func (t *Transport) Poll() bool {
	if !t.enter() {
		return false
	}
	got := t.poll()
	t.exit()
	return got
}

// exitCheckEvery is how often, in time, waits look for peers that died.
const exitCheckEvery = 100 * time.Millisecond

func (t *Transport) poll() bool {
	got := false
	for w, word := range t.pend {
		// Look before swapping: most words are zero most of the time, and
		// a load leaves the line shared with the senders.
		if atomic.LoadUint64(word) == 0 {
			continue
		}
		for set := atomic.SwapUint64(word, 0); set != 0; set &= set - 1 {
			b := bits.TrailingZeros64(set)
			slot := w*64 + b
			if slot >= len(t.in) {
				continue
			}
			c := t.in[slot]
			if !c.mu.TryLock() {
				// Another goroutine drains it, or this one, from inside
				// a Handler: keep the mark for the next poll.
				atomic.OrUint64(word, 1<<b)
				continue
			}
			if c.drain() {
				got = true
			}
			more := !c.broken.Load() && c.pending()
			c.mu.Unlock()
			if more {
				// drain stopped at maxDrain, or a cell came meanwhile.
				atomic.OrUint64(word, 1<<b)
			}
		}
	}
	if !got && t.polls.Add(1)&4095 == 0 {
		// A rank that only spins must notice peers that died as well.
		t.maybeCheckPeers(time.Now())
	}
	if t.deadPending.Load() {
		t.reapDead()
	}
	return got
}

// Block waits until a frame may have arrived, Wake is called, or d passes.
func (t *Transport) Block(d time.Duration) {
	if d <= 0 || !t.enter() {
		return
	}
	defer t.exit()
	if t.wake.Swap(0) != 0 {
		return
	}
	t.sleep(d, true)
	t.wake.Store(0)
}

// sleep waits on this rank's doorbell for at most d: on the bell socket,
// in Go's network poller, or on the futex if another goroutine sleeps on
// the bell. The sleepers word is raised before the rings are checked, and
// senders read it after publishing, so a frame is either seen here or
// rings the bell.
func (t *Transport) sleep(d time.Duration, checkWake bool) {
	db, sl := t.seg.u32(offDoorbell), t.seg.u32(offSleepers)
	onBell := t.bell != nil && t.bell.mu.TryLock()
	inc := uint32(1)
	if onBell {
		defer t.bell.mu.Unlock()
		inc = bellSleeper
	}
	deadline := time.Now().Add(d)
	for {
		v := atomic.LoadUint32(db)
		atomic.AddUint32(sl, inc)
		if t.pendingAny() || t.deadPending.Load() || t.closed.Load() || checkWake && t.wake.Load() != 0 {
			atomic.AddUint32(sl, -inc)
			return
		}
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			atomic.AddUint32(sl, -inc)
			return
		}
		if onBell {
			t.bell.wait(min(left, exitCheckEvery))
		} else {
			futexSleep(db, v, min(left, exitCheckEvery))
		}
		atomic.AddUint32(sl, -inc)
		now = time.Now()
		t.maybeCheckPeers(now)
		// A byte left from an earlier ring ends a bell wait early: the
		// doorbell word tells a real ring from that.
		if atomic.LoadUint32(db) != v || !now.Before(deadline) {
			return
		}
	}
}

// pendingAny tells whether any ring is marked as having cells to read.
func (t *Transport) pendingAny() bool {
	for _, word := range t.pend {
		if atomic.LoadUint64(word) != 0 {
			return true
		}
	}
	return false
}

// Wake ends a current Block at once, or the next one if none is blocked.
func (t *Transport) Wake() {
	if !t.enter() {
		return
	}
	defer t.exit()
	t.wake.Store(1)
	if v := atomic.LoadUint32(t.seg.u32(offSleepers)); v != 0 {
		t.seg.ringBell(v)
	} else {
		atomic.AddUint32(t.seg.u32(offDoorbell), 1)
	}
}

// maybeCheckPeers looks for exited peers if none looked recently.
func (t *Transport) maybeCheckPeers(now time.Time) {
	last := t.lastCheck.Load()
	if now.UnixNano()-last < int64(exitCheckEvery) || !t.lastCheck.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	t.checkPeers()
}

// checkPeers looks at every peer's closed flags and polls the pidfds of
// those whose pid is known.
func (t *Transport) checkPeers() {
	if !t.checkMu.TryLock() {
		return
	}
	defer t.checkMu.Unlock()
	for _, p := range t.peers {
		if p != nil && p.rank != t.rank && p.gone.Load() == peerAlive && p.closedFlag() {
			p.gone.Store(peerClosed)
			t.deadPending.Store(true)
		}
	}
	t.mu.Lock()
	t.fds, t.pids = t.fds[:0], t.pids[:0]
	ps := t.watch
	for _, p := range ps {
		t.fds = append(t.fds, unix.PollFd{Fd: int32(p.pidfd), Events: unix.POLLIN})
		t.pids = append(t.pids, p.pid())
	}
	t.mu.Unlock()
	t.dead = slices.Grow(t.dead[:0], len(ps))[:len(ps)]
	exited(t.fds, t.pids, t.dead)
	for i, p := range ps {
		if !t.dead[i] || p.rank == t.rank {
			continue
		}
		state := uint32(peerExited)
		if p.closedFlag() {
			state = peerClosed
		}
		if p.gone.CompareAndSwap(peerAlive, state) {
			t.deadPending.Store(true)
		}
	}
}

// reapDead delivers what departed peers left in their rings, then reports
// each with Handler.Fail.
func (t *Transport) reapDead() {
	if !t.deadPending.Swap(false) {
		return
	}
	for _, p := range t.peers {
		if p == nil || p.failed.Load() {
			continue
		}
		state := p.gone.Load()
		if state == peerAlive {
			continue
		}
		// TryLock: the ring may be held by this very goroutine (a Handler
		// that sends, waiting for space); then try again at the next poll.
		if !p.in.mu.TryLock() {
			t.deadPending.Store(true)
			continue
		}
		p.in.drain()
		p.in.mu.Unlock()
		err := ErrPeerClosed
		if state == peerExited {
			err = fmt.Errorf("%w (pid %d)", ErrPeerExited, p.pid())
		}
		t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: err})
	}
}

// failPeer calls Handler.Fail once per peer.
func (t *Transport) failPeer(p *peer, err error) {
	if p.failed.Swap(true) {
		return
	}
	t.h.Fail(p.rank, err)
}

// Close marks this rank's rings closed for its peers, waits for calls in
// progress, unmaps every segment and removes this rank's segment name if
// Seal did not. It must not be called from a Handler method.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.seg.ringBell(1 | bellSleeper)
	// Sends run under their endpoint's mutex instead of the users count:
	// holding every one of them (to the end) excludes them, and a Send
	// that gets one afterwards sees closed.
	// A Send waiting for space may need t.mu (learning a peer's pid while
	// it polls): take the endpoints' mutexes without holding t.mu.
	var eps []*endpoint
	t.mu.Lock()
	for _, p := range t.peers {
		if p != nil {
			if e := p.ep.Load(); e != nil {
				eps = append(eps, e)
			}
		}
	}
	t.mu.Unlock()
	for _, e := range eps {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	for t.users.Load() != 0 {
		time.Sleep(10 * time.Microsecond)
	}
	atomic.StoreUint32(t.seg.u32(offClosed), 1)
	var errs []error
	t.mu.Lock()
	for _, p := range t.peers {
		if p == nil {
			continue
		}
		e := p.ep.Load()
		if e != nil {
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&e.prod.ring[rOffClosed])), 1)
		}
		if out := p.out.Load(); out != nil && out != t.seg {
			if e != nil {
				// Let a sleeping peer this rank sent to look soon. Not
				// every local rank: at the end of a job of N ranks, N²
				// wake-ups of ranks that had nothing to read.
				out.wakeOwner()
			}
			if err := out.unmap(); err != nil {
				errs = append(errs, fmt.Errorf("shm: unmapping %s: %w", out.name, err))
			}
		}
		if p.pidfd >= 0 {
			unix.Close(p.pidfd)
			p.pidfd = -1
		}
	}
	if t.arena != nil {
		if err := unix.Munmap(t.arena); err != nil {
			errs = append(errs, fmt.Errorf("shm: unmapping the peers' headers: %w", err))
		}
		t.arena = nil
	}
	t.mu.Unlock()
	if err := unix.Unlink(t.seg.path()); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("shm: removing %s: %w", t.seg.path(), err))
	}
	if err := t.seg.unmap(); err != nil {
		errs = append(errs, fmt.Errorf("shm: unmapping %s: %w", t.seg.name, err))
	}
	if t.exits != nil {
		if err := t.exits.close(); err != nil {
			errs = append(errs, fmt.Errorf("shm: closing the exit watch: %w", err))
		}
	}
	if t.bell != nil {
		if err := t.bell.close(); err != nil {
			errs = append(errs, fmt.Errorf("shm: closing the doorbell socket: %w", err))
		}
	}
	return errors.Join(errs...)
}
