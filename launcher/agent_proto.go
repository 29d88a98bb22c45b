package launcher

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/vmihailenco/msgpack/v5"
)

// The launcher and a node agent talk over one TCP connection: frames of a
// 4-byte big-endian length and a msgpack-encoded agentMsg. Both sides first
// prove knowledge of the secret (HMAC over both nonces, the roles and the
// direction; the side that opened the connection proves first, the other
// only after checking that proof), after which every frame is sealed with
// keys derived from the secret and both nonces. Then the launcher stages
// files and starts ranks, and
// the agent forwards their output and exit statuses. Both send a heartbeat
// every launcher_heartbeat; a side that hears nothing for
// launcher_heartbeat_timeout takes the other as gone.

var (
	heartbeatEvery = param.NewDuration("launcher_heartbeat", 500*time.Millisecond,
		"interval of the heartbeats between the launcher and its node agents")
	heartbeatTimeout = param.NewDuration("launcher_heartbeat_timeout", 3*time.Second,
		"silence after which the launcher takes a node agent (or an agent the launcher) as lost")
)

// agentOp is the kind of an agent message.
type agentOp uint8

const (
	opHello      agentOp = iota + 1 // both: Role, Nonce, Node, Version
	opProof                         // both: MAC over both nonces (dialer first)
	opStage                         // L: Name, Mode, Data (a chunk), Last
	opStart                         // L: Spec
	opSignal                        // L: Rank, Sig
	opShutdown                      // L: end the job on this node, clean up, say Bye
	opPing                          // both: heartbeat
	opStarted                       // A: Rank, Pid
	opOutput                        // A: Rank, Stream (1 stdout, 2 stderr), Data
	opExit                          // A: Rank, Code, Sig, Text (could not start or wait)
	opLog                           // A: Text, a line for the launcher's stderr (or, instead of a hello, why the agent refuses)
	opBye                           // A: clean-up done
	opState                         // L: Rank, Seq: what state is the rank's process in?
	opStateReply                    // A: Rank, Seq, Pid, State, CPU, Sig (the stop signal); Text if it could not be read
)

// opMax is the highest op a peer of this version may send.
const opMax = opStateReply

// agentProtoVersion changes whenever messages change meaning or are
// added; both sides must agree (a peer sent an op it does not know takes
// the frame as malformed and drops the link). 3 added opState.
const agentProtoVersion = 3

// maxAgentFrame bounds one frame (staged files go in chunks of stageChunk).
const (
	maxAgentFrame = 8 << 20
	stageChunk    = 1 << 20
)

type agentMsg struct {
	Op      agentOp    `msgpack:"o"`
	Role    string     `msgpack:"role,omitempty"`
	Nonce   []byte     `msgpack:"n,omitempty"`
	MAC     []byte     `msgpack:"mac,omitempty"`
	Node    string     `msgpack:"node,omitempty"`
	Version int        `msgpack:"v,omitempty"`
	Rank    int        `msgpack:"r,omitempty"`
	Pid     int        `msgpack:"pid,omitempty"`
	Stream  int        `msgpack:"s,omitempty"`
	Data    []byte     `msgpack:"d,omitempty"`
	Code    int        `msgpack:"c,omitempty"`
	Sig     int        `msgpack:"sig,omitempty"`
	Text    string     `msgpack:"t,omitempty"`
	Name    string     `msgpack:"name,omitempty"`
	Mode    uint32     `msgpack:"mode,omitempty"`
	Last    bool       `msgpack:"last,omitempty"`
	Spec    *agentSpec `msgpack:"spec,omitempty"`
	// A state request and its reply: the request's number, the process
	// state letter of /proc/PID/stat and its processor time in ticks.
	Seq   uint64 `msgpack:"seq,omitempty"`
	State uint8  `msgpack:"st,omitempty"`
	CPU   uint64 `msgpack:"cpu,omitempty"`
	// The launcher's hello sets the agent's heartbeat, in nanoseconds.
	Every   int64 `msgpack:"every,omitempty"`
	Timeout int64 `msgpack:"timeout,omitempty"`
}

// agentSpec is one rank to start on the agent's node.
type agentSpec struct {
	Rank      int      `msgpack:"rank"`
	JobID     string   `msgpack:"job"`
	Path      string   `msgpack:"path"`   // absolute, or a staged file's name when Staged
	Staged    bool     `msgpack:"staged"` // Path names a staged file; run it in the stage dir
	Args      []string `msgpack:"args"`
	Env       []string `msgpack:"env"` // set over the agent's own environment
	Dir       string   `msgpack:"dir"` // empty: the stage dir if staged, else the launcher's, else home
	LocalRank int      `msgpack:"lr"`
	LocalSize int      `msgpack:"ls"`
	Over      bool     `msgpack:"over"` // the node is oversubscribed
	BindTo    string   `msgpack:"bind"`
	Report    bool     `msgpack:"report"` // --report-bindings
}

var errAgentFrame = errors.New("malformed agent message")

// writeAgentMsg encodes m as one frame.
func writeAgentMsg(w io.Writer, m *agentMsg) error {
	body, err := msgpack.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode agent message: %w", err)
	}
	return writeAgentFrame(w, body)
}

// writeAgentFrame writes body with its length in front.
func writeAgentFrame(w io.Writer, body []byte) error {
	if len(body) > maxAgentFrame {
		return fmt.Errorf("agent message of %d bytes exceeds %d", len(body), maxAgentFrame)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// readAgentMsg decodes one frame.
func readAgentMsg(r io.Reader) (*agentMsg, error) {
	body, err := readAgentFrame(r)
	if err != nil {
		return nil, err
	}
	return decodeAgentMsg(body)
}

// readAgentFrame reads one frame's body.
func readAgentFrame(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n == 0 || n > maxAgentFrame {
		return nil, fmt.Errorf("%w: frame length %d", errAgentFrame, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// decodeAgentMsg decodes a frame's body.
func decodeAgentMsg(body []byte) (*agentMsg, error) {
	var m agentMsg
	if err := msgpack.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", errAgentFrame, err)
	}
	if m.Op < opHello || m.Op > opMax {
		return nil, fmt.Errorf("%w: unknown op %d", errAgentFrame, m.Op)
	}
	if m.Op == opStart && m.Spec == nil {
		return nil, fmt.Errorf("%w: start without a rank", errAgentFrame)
	}
	return &m, nil
}

// agentLink is one authenticated launcher-agent connection. After the
// handshake every frame is sealed (AES-256-GCM) with a key of its
// direction, derived from the secret and both nonces: a man in the middle
// that relayed the handshake can read nothing and forge nothing.
type agentLink struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
	rmu  sync.Mutex
	peer string // the peer's node name (agent side: "launcher")
	// every and timeout are the heartbeat interval and the silence that
	// means the peer is lost; the launcher's values, which its hello
	// gives the agent.
	every, timeout time.Duration
	pinging        atomic.Bool
	// seal and open protect frames sent and received, with counters as
	// their nonces (a frame replayed, dropped or reordered fails to open);
	// nil during the handshake.
	seal, open   cipher.AEAD
	sent, opened uint64
}

// ping sends a heartbeat without waiting: a send stuck behind a large
// frame on a dead link must not stop the caller from noticing the silence.
func (l *agentLink) ping() {
	if !l.pinging.CompareAndSwap(false, true) {
		return // the last one is still on its way
	}
	go func() {
		l.send(&agentMsg{Op: opPing})
		l.pinging.Store(false)
	}()
}

func (l *agentLink) send(m *agentMsg) error {
	// No write deadline: a frame cut short would garble the stream, and
	// a peer that stops reading is found by the heartbeats, whose loss
	// closes the connection and so ends a blocked write.
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.seal == nil {
		return writeAgentMsg(l.conn, m)
	}
	body, err := msgpack.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode agent message: %w", err)
	}
	l.sent++
	sealed := l.seal.Seal(nil, frameNonce(l.sent), body, nil)
	return writeAgentFrame(l.conn, sealed)
}

func (l *agentLink) recv() (*agentMsg, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.open == nil {
		return readAgentMsg(l.br)
	}
	body, err := readAgentFrame(l.br)
	if err != nil {
		return nil, err
	}
	l.opened++
	plain, err := l.open.Open(body[:0], frameNonce(l.opened), body, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: frame %d does not authenticate (tampered with, or not from the peer that shook hands)", errAgentFrame, l.opened)
	}
	return decodeAgentMsg(plain)
}

// frameNonce is the AEAD nonce of the n-th frame of a direction.
func frameNonce(n uint64) []byte {
	var b [12]byte
	binary.BigEndian.PutUint64(b[4:], n)
	return b[:]
}

// Which end of the connection a proof or key belongs to.
const (
	roleDialer   = "dialer"
	roleAcceptor = "acceptor"
)

// agentMAC is the proof of the side playing role (launcher or agent)
// against peerRole, from the end end (dialer or acceptor), over both
// nonces: a proof is good for one connection, one side, one direction.
func agentMAC(secret []byte, role, peerRole, end string, dialNonce, acceptNonce []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("mpx agent v2 proof\x00" + role + "\x00" + peerRole + "\x00" + end + "\x00"))
	h.Write(dialNonce)
	h.Write(acceptNonce)
	return h.Sum(nil)
}

// linkAEAD is the cipher of the frames the from end sends.
func linkAEAD(secret []byte, from string, dialNonce, acceptNonce []byte) (cipher.AEAD, error) {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("mpx agent v2 key\x00" + from + "\x00"))
	h.Write(dialNonce)
	h.Write(acceptNonce)
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// handshake authenticates both ends of conn: role is "launcher" or
// "agent", node this side's node name, dialer whether this side opened
// the connection. The dialer proves knowledge of secret first; the
// acceptor proves it only to a dialer that has, so a stranger that
// connects learns nothing but a nonce. It returns the link, sealed.
func handshake(conn net.Conn, secret []byte, role, node string, dialer bool) (*agentLink, error) {
	if len(secret) == 0 {
		return nil, errors.New("agent handshake: empty secret")
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	l := &agentLink{conn: conn, br: bufio.NewReader(conn)}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	l.every, l.timeout = heartbeatEvery.Get(), heartbeatTimeout.Get()
	want := "agent"
	if role == "agent" {
		want = "launcher"
	}
	fail := func(err error) (*agentLink, error) { return nil, fmt.Errorf("agent handshake: %w", err) }
	sayHello := func() error {
		return l.send(&agentMsg{Op: opHello, Role: role, Nonce: nonce, Node: node, Version: agentProtoVersion,
			Every: int64(l.every), Timeout: int64(l.timeout)})
	}
	if dialer {
		if err := sayHello(); err != nil {
			return fail(err)
		}
	}
	hello, err := l.recv()
	if err != nil {
		return fail(err)
	}
	switch {
	case hello.Op == opLog && hello.Text != "":
		// An agent that cannot serve us says why before hanging up.
		return fail(fmt.Errorf("the peer refused: %s", hello.Text))
	case hello.Op != opHello || len(hello.Nonce) != 32:
		return fail(fmt.Errorf("%w: expected hello", errAgentFrame))
	case hello.Version != agentProtoVersion:
		return fail(fmt.Errorf("peer speaks agent protocol %d, this mpx %d (run the same mpx version everywhere)", hello.Version, agentProtoVersion))
	case hello.Role != want:
		return fail(fmt.Errorf("peer says it is %q, want %q", hello.Role, want))
	}
	dialNonce, acceptNonce := nonce, hello.Nonce
	if !dialer {
		dialNonce, acceptNonce = hello.Nonce, nonce
		if err := sayHello(); err != nil {
			return fail(err)
		}
	}
	ourEnd, peerEnd := roleDialer, roleAcceptor
	if !dialer {
		ourEnd, peerEnd = roleAcceptor, roleDialer
	}
	prove := func() error {
		return l.send(&agentMsg{Op: opProof, MAC: agentMAC(secret, role, want, ourEnd, dialNonce, acceptNonce)})
	}
	if dialer {
		if err := prove(); err != nil {
			return fail(err)
		}
	}
	proof, err := l.recv()
	if dialer && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return fail(errors.New("the peer hung up after our proof: it does not know the same secret"))
	}
	if err != nil {
		return fail(err)
	}
	if proof.Op != opProof || !hmac.Equal(proof.MAC, agentMAC(secret, want, role, peerEnd, dialNonce, acceptNonce)) {
		return fail(errors.New("the peer does not know the job secret"))
	}
	if !dialer {
		if err := prove(); err != nil {
			return fail(err)
		}
	}
	if l.seal, err = linkAEAD(secret, ourEnd, dialNonce, acceptNonce); err != nil {
		return fail(err)
	}
	if l.open, err = linkAEAD(secret, peerEnd, dialNonce, acceptNonce); err != nil {
		return fail(err)
	}
	l.peer = hello.Node
	if role == "agent" && hello.Every > 0 && hello.Timeout > hello.Every {
		l.every, l.timeout = time.Duration(hello.Every), time.Duration(hello.Timeout)
	}
	return l, nil
}
