// Package pmi2 is a pure-Go client of the PMI-2 wire protocol, the one Slurm
// serves on PMI_FD to the tasks of `srun --mpi=pmi2` (and MPICH's Hydra
// too). With it a rank started directly by srun, without `mpx run`, does its
// wire-up through the process manager: it learns its rank, size and node
// layout, and exchanges business cards by put / fence / get.
//
// Its Client has the shape of the launcher's bootstrap.Client (Put, Get,
// Fence, Finalize, Abort, Done, Err, Close), so the runtime can use either.
package pmi2

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/mpx-hpc/mpx/runtime/bootstrap"
)

// The environment a PMI-2 process manager gives each task.
const (
	EnvFD    = "PMI_FD"    // the connected socket to the process manager
	EnvRank  = "PMI_RANK"  // this task's rank
	EnvSize  = "PMI_SIZE"  // the number of tasks
	EnvJobID = "PMI_JOBID" // the PMI job id ("<job>.<step>" under Slurm)
)

// ErrLost is wrapped by every error caused by the process manager's
// socket being gone.
var ErrLost = errors.New("pmi2: connection to the process manager lost")

// Detect reports whether the environment carries a PMI-2 session: PMI_FD,
// PMI_RANK and PMI_SIZE all set. (`mpx run` sets PMI_RANK and PMI_SIZE for
// scripts, but never PMI_FD.)
func Detect(getenv func(string) string) bool {
	return getenv(EnvFD) != "" && getenv(EnvRank) != "" && getenv(EnvSize) != ""
}

// Client is one task's PMI-2 session. Its methods are safe for concurrent
// use; requests are serialized, since PMI-2 allows one at a time per task.
// Fence and Finalize are collective: every task calls them in the same order.
type Client struct {
	conn io.ReadWriteCloser
	wmu  sync.Mutex // one request/response at a time
	resp chan *Command
	done chan struct{}

	rank, size, appnum   int
	jobID                string
	nodeID               int
	localRank, localSize int

	mu        sync.Mutex
	err       error
	finalized bool
}

// Open starts the PMI-2 session on the socket named by PMI_FD, checking that
// the rank the server assigns matches PMI_RANK.
func Open(getenv func(string) string) (*Client, error) {
	fdS, rankS, sizeS := getenv(EnvFD), getenv(EnvRank), getenv(EnvSize)
	fd, err := strconv.Atoi(fdS)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("pmi2: environment %s=%q is not a file descriptor", EnvFD, fdS)
	}
	rank, err := strconv.Atoi(rankS)
	if err != nil || rank < 0 {
		return nil, fmt.Errorf("pmi2: environment %s=%q is not a rank", EnvRank, rankS)
	}
	if size, err := strconv.Atoi(sizeS); err != nil || size <= rank {
		return nil, fmt.Errorf("pmi2: environment %s=%q is not a size above %s=%d", EnvSize, sizeS, EnvRank, rank)
	}
	f := os.NewFile(uintptr(fd), "PMI_FD")
	if f == nil {
		return nil, fmt.Errorf("pmi2: %s=%d is not an open file descriptor", EnvFD, fd)
	}
	// A socket goes through the network poller, so a blocked read holds
	// no OS thread; anything else (a pipe pair) is used as a file.
	var conn io.ReadWriteCloser = f
	if c, err := net.FileConn(f); err == nil {
		f.Close() // FileConn made its own copy of the descriptor
		conn = c
	}
	c, err := New(conn, rank, getenv(EnvJobID))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// New runs the PMI-2 handshake (PMI-1 init, then fullinit) over conn for the
// task whose rank the process manager knows as rank; jobID is PMI_JOBID, if
// any. The Client owns conn from then on, even when New fails.
func New(conn io.ReadWriteCloser, rank int, jobID string) (*Client, error) {
	c := &Client{conn: conn, resp: make(chan *Command), done: make(chan struct{})}
	br := bufio.NewReader(conn)
	fail := func(err error) (*Client, error) {
		conn.Close()
		return nil, err
	}
	if _, err := io.WriteString(conn, initLine); err != nil {
		return fail(fmt.Errorf("pmi2: sending init: %w", err))
	}
	if err := readInitResponse(br); err != nil {
		return fail(err)
	}
	pairs := []Pair{}
	if jobID != "" {
		pairs = append(pairs, Pair{"pmijobid", jobID})
	}
	pairs = append(pairs, Pair{"pmirank", strconv.Itoa(rank)}, Pair{"threaded", "FALSE"})
	msg, err := encode("fullinit", pairs...)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(msg); err != nil {
		return fail(fmt.Errorf("pmi2: sending fullinit: %w", err))
	}
	r, err := readCommand(br)
	if err != nil {
		return fail(fmt.Errorf("pmi2: reading fullinit response: %w", err))
	}
	if err := checkResponse(r, "fullinit"); err != nil {
		return fail(err)
	}
	ints := []struct {
		key string
		dst *int
	}{{"rank", &c.rank}, {"size", &c.size}, {"appnum", &c.appnum}}
	for _, f := range ints {
		v, ok := r.Get(f.key)
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return fail(fmt.Errorf("%w: fullinit-response has %s=%q", ErrProtocol, f.key, v))
		}
		*f.dst = n
	}
	if c.size < 1 || c.rank < 0 || c.rank >= c.size {
		return fail(fmt.Errorf("%w: fullinit-response gives rank %d of size %d", ErrProtocol, c.rank, c.size))
	}
	if c.rank != rank {
		return fail(fmt.Errorf("pmi2: the process manager calls this task rank %d, but its environment says %d", c.rank, rank))
	}
	go c.readLoop(br)

	if r, err = c.call("job-getid"); err != nil {
		return nil, c.closeWith(err)
	}
	c.jobID, _ = r.Get("jobid")
	if err := c.loadMapping(); err != nil {
		return nil, c.closeWith(err)
	}
	return c, nil
}

// loadMapping reads the job's node layout from PMI_process_mapping; without
// one, every task is taken to be alone on its node (which costs shared
// memory but never claims a peer is local when it is not).
func (c *Client) loadMapping() error {
	r, err := c.call("info-getjobattr", Pair{"key", "PMI_process_mapping"})
	if err != nil {
		return err
	}
	if found, _ := r.Get("found"); !strings.EqualFold(found, "TRUE") {
		c.nodeID, c.localRank, c.localSize = c.rank, 0, 1
		return nil
	}
	v, _ := r.Get("value")
	nodes, err := ParseProcessMapping(v, c.size)
	if err != nil {
		return err
	}
	c.nodeID = nodes[c.rank]
	for r, n := range nodes {
		if n == c.nodeID {
			if r == c.rank {
				c.localRank = c.localSize
			}
			c.localSize++
		}
	}
	return nil
}

// readLoop hands each response to the request waiting for it, and closes
// done when the socket ends.
func (c *Client) readLoop(br *bufio.Reader) {
	for {
		r, err := readCommand(br)
		if err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = fmt.Errorf("%w: %v", ErrLost, err)
			}
			c.mu.Unlock()
			close(c.done)
			return
		}
		select {
		case c.resp <- r:
		case <-c.done:
			return
		}
	}
}

// call sends one command and waits for its response, checking rc.
func (c *Client) call(name string, pairs ...Pair) (*Command, error) {
	msg, err := encode(name, pairs...)
	if err != nil {
		return nil, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(msg); err != nil {
		return nil, fmt.Errorf("pmi2: %s: %w: %v", name, ErrLost, err)
	}
	select {
	case r := <-c.resp:
		return r, checkResponse(r, name)
	case <-c.done:
		return nil, fmt.Errorf("pmi2: %s: %w", name, c.Err())
	}
}

// checkResponse checks r answers name and reports success.
func checkResponse(r *Command, name string) error {
	if r.Name != name+"-response" {
		return fmt.Errorf("%w: %s answered with %q", ErrProtocol, name, r.Name)
	}
	rc, _ := r.Get("rc")
	if rc != "0" {
		msg, _ := r.Get("errmsg")
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("pmi2: %s failed (rc=%s): %s", name, rc, msg)
	}
	return nil
}

func (c *Client) closeWith(err error) error {
	c.Close()
	return err
}

// Rank is this task's rank.
func (c *Client) Rank() int { return c.rank }

// Size is the number of tasks in the job.
func (c *Client) Size() int { return c.size }

// JobID is the process manager's id of the job ("<job>.<step>" under Slurm).
func (c *Client) JobID() string { return c.jobID }

// Env is what the runtime would read from mpx's environment contract, as
// far as PMI-2 tells it: rank, size, node layout, job id and node name.
// KVAddr and Secret stay empty (see SharedSecret).
func (c *Client) Env() bootstrap.Env {
	host, _ := os.Hostname()
	return bootstrap.Env{
		Rank: c.rank, Size: c.size,
		LocalRank: c.localRank, LocalSize: c.localSize,
		NodeID: c.nodeID, NodeName: host,
		JobID: "pmi2-" + c.jobID,
	}
}

// Value encoding. PMI-2 values are text of at most 1024 bytes without ';'
// (Slurm does not unescape ";;"), and keys at most 64 bytes. Values are
// therefore base64url text: one key when short ("v" + text), else chunks
// under key~0, key~1, ... and "c<count>" under the key itself. Keys that are
// long or hold other characters are replaced by a hash.
const (
	chunkText    = maxValue - 8
	maxChunks    = 4096 // 4 MiB of value
	plainKeyMax  = 48
	chunkKeySep  = "~"
	maxValueData = maxChunks * chunkText * 3 / 4
)

func pmiKey(key string) string {
	ok := len(key) <= plainKeyMax
	for i := 0; ok && i < len(key); i++ {
		b := key[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("/._-:", b) >= 0
	}
	if ok {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "h:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Put stores value under key; it is visible to every task after the next
// Fence. Put does not retain value.
func (c *Client) Put(key string, value []byte) error {
	if key == "" {
		return errors.New("pmi2: put: empty key")
	}
	if len(value) > maxValueData {
		return fmt.Errorf("pmi2: put %q: value of %d bytes exceeds %d", key, len(value), maxValueData)
	}
	pk := pmiKey(key)
	text := base64.RawURLEncoding.EncodeToString(value)
	if len(text)+1 <= maxValue {
		return c.put(key, pk, "v"+text)
	}
	n := 0
	for ; len(text) > 0; n++ {
		part := text[:min(chunkText, len(text))]
		text = text[len(part):]
		if err := c.put(key, pk+chunkKeySep+strconv.Itoa(n), part); err != nil {
			return err
		}
	}
	return c.put(key, pk, "c"+strconv.Itoa(n))
}

func (c *Client) put(key, pk, v string) error {
	if _, err := c.call("kvs-put", Pair{"key", pk}, Pair{"value", v}); err != nil {
		return fmt.Errorf("pmi2: put %q: %w", key, err)
	}
	return nil
}

// Get returns the value some task put under key before the last Fence; a
// key that no task put is an error naming it.
func (c *Client) Get(key string) ([]byte, error) {
	if key == "" {
		return nil, errors.New("pmi2: get: empty key")
	}
	pk := pmiKey(key)
	head, err := c.get(key, pk)
	if err != nil {
		return nil, err
	}
	var text string
	switch {
	case strings.HasPrefix(head, "v"):
		text = head[1:]
	case strings.HasPrefix(head, "c"):
		n, err := strconv.Atoi(head[1:])
		if err != nil || n < 1 || n > maxChunks {
			return nil, fmt.Errorf("pmi2: get %q: stored value %q is not mpx's encoding", key, truncate(head))
		}
		var b strings.Builder
		for i := range n {
			part, err := c.get(key, pk+chunkKeySep+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			b.WriteString(part)
		}
		text = b.String()
	default:
		return nil, fmt.Errorf("pmi2: get %q: stored value %q is not mpx's encoding", key, truncate(head))
	}
	v, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("pmi2: get %q: stored value is not mpx's encoding: %v", key, err)
	}
	return v, nil
}

func (c *Client) get(key, pk string) (string, error) {
	r, err := c.call("kvs-get", Pair{"jobid", c.jobID}, Pair{"srcid", "-1"}, Pair{"key", pk})
	if err != nil {
		return "", fmt.Errorf("pmi2: get %q: %w", key, err)
	}
	if found, _ := r.Get("found"); !strings.EqualFold(found, "TRUE") {
		return "", fmt.Errorf("pmi2: get %q: no task put it before the last fence", key)
	}
	v, _ := r.Get("value")
	return v, nil
}

// Fence returns when every task has called Fence; every Put made before
// it, by any task, is then visible to Get.
func (c *Client) Fence() error {
	c.mu.Lock()
	fin := c.finalized
	c.mu.Unlock()
	if fin {
		return errors.New("pmi2: fence after Finalize")
	}
	if _, err := c.call("kvs-fence"); err != nil {
		return fmt.Errorf("pmi2: fence: %w", err)
	}
	return nil
}

// Finalize waits until every task has reached it (a fence, so that no task
// leaves while a peer may still need it, as bootstrap.Client.Finalize
// does), then ends the session. Nothing but Close may follow.
func (c *Client) Finalize() error {
	if err := c.Fence(); err != nil {
		return err
	}
	c.mu.Lock()
	c.finalized = true
	c.mu.Unlock()
	if _, err := c.call("finalize"); err != nil {
		return fmt.Errorf("pmi2: finalize: %w", err)
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: finalized", ErrLost)
	}
	c.mu.Unlock()
	c.conn.Close()
	return nil
}

// Abort asks the process manager to stop the whole job; msg and code go to
// its log. PMI-2 sends no answer: the process manager kills every task,
// this one included.
func (c *Client) Abort(code int, msg string) error {
	text := fmt.Sprintf("rank %d exit code %d: %s", c.rank, code, msg)
	text = strings.Map(func(r rune) rune {
		if r == ';' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, text)
	if len(text) > maxValue {
		text = text[:maxValue]
	}
	b, err := encode("abort", Pair{"isworld", "TRUE"}, Pair{"msg", text})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("pmi2: abort: %w: %v", ErrLost, err)
	}
	return nil
}

// SharedSecret gives every task the same fresh random secret, made by rank 0
// and passed through the process manager's key-value space (which only the
// job's tasks reach). It is collective: it fences once. The runtime uses it
// as the job secret of its transports when no launcher made one.
func (c *Client) SharedSecret(key string) ([]byte, error) {
	if c.rank == 0 {
		s := make([]byte, 32)
		if _, err := rand.Read(s); err != nil {
			return nil, fmt.Errorf("pmi2: making the job secret: %w", err)
		}
		if err := c.Put(key, s); err != nil {
			return nil, err
		}
	}
	if err := c.Fence(); err != nil {
		return nil, err
	}
	return c.Get(key)
}

// Done is closed when the process manager's socket is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why Done was closed; nil while the session is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the socket. Without Finalize first, Slurm takes the task as
// having left the job.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: closed by the task", ErrLost)
	}
	c.mu.Unlock()
	c.conn.Close()
	<-c.done
	return nil
}

// ParseProcessMapping reads PMI_process_mapping, e.g. "(vector,(0,2,2))":
// blocks of (first node, node count, tasks per node) assigning consecutive
// ranks, repeated until size ranks are placed (so "(vector,(0,2,1))" over
// four ranks is cyclic: nodes 0 1 0 1). It returns each rank's node id.
func ParseProcessMapping(s string, size int) ([]int, error) {
	bad := func(why string) ([]int, error) {
		return nil, fmt.Errorf("%w: PMI_process_mapping %q: %s", ErrProtocol, truncate(s), why)
	}
	if size < 1 || size > 1<<24 {
		return bad(fmt.Sprintf("job size %d", size))
	}
	t := strings.ReplaceAll(s, " ", "")
	if !strings.HasPrefix(t, "(vector,") || !strings.HasSuffix(t, ")") {
		return bad("want (vector,(node,count,ppn),...)")
	}
	t = t[len("(vector,") : len(t)-1]
	type block struct{ first, count, ppn int }
	var blocks []block
	for t != "" {
		if t[0] != '(' {
			return bad("want a (node,count,ppn) block")
		}
		end := strings.IndexByte(t, ')')
		if end < 0 {
			return bad("unclosed block")
		}
		f := strings.Split(t[1:end], ",")
		if len(f) != 3 {
			return bad("a block has three numbers")
		}
		var v [3]int
		for i, x := range f {
			n, err := strconv.Atoi(x)
			if err != nil || n < 0 || n > 1<<24 {
				return bad(fmt.Sprintf("%q is not a count", x))
			}
			v[i] = n
		}
		if v[1] == 0 || v[2] == 0 {
			return bad("empty block")
		}
		blocks = append(blocks, block{v[0], v[1], v[2]})
		t = strings.TrimPrefix(t[end+1:], ",")
	}
	if len(blocks) == 0 {
		return bad("no blocks")
	}
	nodes := make([]int, 0, size)
	for len(nodes) < size {
		for _, b := range blocks {
			for n := b.first; n < b.first+b.count && len(nodes) < size; n++ {
				for range b.ppn {
					if len(nodes) == size {
						break
					}
					nodes = append(nodes, n)
				}
			}
		}
	}
	return nodes, nil
}
