package bootstrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// The key-value protocol. Every message is a 4-byte big-endian length
// followed by that many bytes of one msgpack-encoded Msg. The length is
// checked against a limit before anything is allocated, so a stranger
// cannot make the launcher or a rank allocate more than the limit.
//
// A connection opens with a mutual challenge-response proving knowledge of
// the job secret (auth.go); after it the client sends requests (Put, Get,
// Fence, Finalize, Abort) and the server answers them, and may itself ask
// for a Report at any time.

// Limits of the protocol.
const (
	// MaxMessage is the largest encoded message accepted after the
	// handshake. It bounds a Put's key and value together.
	MaxMessage = 1 << 20
	// MaxHandshake is the largest message accepted before the peer has
	// proved knowledge of the secret.
	MaxHandshake = 256
	// MaxKey is the longest key.
	MaxKey = 1024
	// nonceLen is the length of each side's challenge.
	nonceLen = 32
	// lenPrefix is the size of the length prefix.
	lenPrefix = 4
)

// Op says what a message is.
type Op uint8

// Protocol operations. C: sent by the client (a rank), S: by the server.
const (
	OpChallenge Op = iota + 1 // S: Nonce
	OpHello                   // C: Rank, Nonce (the client's challenge), MAC
	OpWelcome                 // S: Size, MAC (proof of the server)
	OpPut                     // C: Key, Value; no answer
	OpGet                     // C: ID, Key; answered by OpValue or OpError
	OpValue                   // S: ID, Value
	OpFence                   // C: ID; answered by OpRelease when every rank has fenced
	OpFinalize                // C: ID; answered by OpRelease when every rank has finalized
	OpRelease                 // S: ID
	OpAbort                   // C: ID, Code, Text, Lost; answered by OpAck
	OpAck                     // S: ID
	OpReportReq               // S: ID; the client answers OpReport
	OpReport                  // C: ID, Text
	OpError                   // S: ID, Text; a failed request, or a refusal before closing
	opEnd
)

var opNames = [...]string{"", "challenge", "hello", "welcome", "put", "get", "value", "fence",
	"finalize", "release", "abort", "ack", "report-request", "report", "error"}

func (o Op) String() string {
	if o > 0 && o < opEnd {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Msg is one protocol message. Which fields mean something depends on Op.
type Msg struct {
	Op    Op     `msgpack:"o"`
	ID    uint64 `msgpack:"i,omitempty"`
	Rank  int    `msgpack:"r,omitempty"`
	Size  int    `msgpack:"z,omitempty"`
	Code  int    `msgpack:"c,omitempty"`
	Key   string `msgpack:"k,omitempty"`
	Value []byte `msgpack:"v,omitempty"`
	Text  string `msgpack:"t,omitempty"`
	Nonce []byte `msgpack:"n,omitempty"`
	MAC   []byte `msgpack:"m,omitempty"`
	// Lost (OpAbort) is the world rank whose lost link made this rank
	// abort: the abort is a consequence, and the launcher looks for that
	// rank's own fate. Nil when the abort has a cause of its own.
	Lost *int `msgpack:"l,omitempty"`
}

// Errors of the codec, usable with errors.Is.
var (
	ErrTooLarge  = errors.New("message exceeds the size limit")
	ErrMalformed = errors.New("malformed message")
)

// Marshal encodes m with its length prefix.
func Marshal(m *Msg) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, lenPrefix))
	enc := msgpack.NewEncoder(&buf)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("bootstrap: encode %v: %w", m.Op, err)
	}
	b := buf.Bytes()
	n := len(b) - lenPrefix
	if n > MaxMessage {
		return nil, fmt.Errorf("bootstrap: encode %v: %d bytes: %w (%d)", m.Op, n, ErrTooLarge, MaxMessage)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// Decode reads one message from r, refusing a body longer than max bytes.
// Every error but a clean io.EOF before the first byte wraps ErrTooLarge,
// ErrMalformed or the reader's error.
func Decode(r io.Reader, max int) (*Msg, error) {
	var hdr [lenPrefix]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("bootstrap: message of %d bytes: %w (%d)", n, ErrTooLarge, max)
	}
	if n == 0 {
		return nil, fmt.Errorf("bootstrap: empty message: %w", ErrMalformed)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("bootstrap: reading %d-byte message: %w", n, err)
	}
	return Unmarshal(body)
}

// Unmarshal decodes one message body (without its length prefix) and checks
// that its fields are within the protocol's limits.
func Unmarshal(body []byte) (*Msg, error) {
	rd := bytes.NewReader(body)
	dec := msgpack.NewDecoder(rd)
	var m Msg
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bootstrap: %w: %v", ErrMalformed, err)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("bootstrap: %w: %d bytes after the message", ErrMalformed, rd.Len())
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("bootstrap: %w: %v", ErrMalformed, err)
	}
	return &m, nil
}

// check validates what does not depend on the connection's state.
func (m *Msg) check() error {
	if m.Op == 0 || m.Op >= opEnd {
		return fmt.Errorf("unknown op %d", uint8(m.Op))
	}
	if len(m.Key) > MaxKey {
		return fmt.Errorf("%v: key of %d bytes exceeds %d", m.Op, len(m.Key), MaxKey)
	}
	if m.Rank < 0 || m.Size < 0 {
		return fmt.Errorf("%v: negative rank %d or size %d", m.Op, m.Rank, m.Size)
	}
	if (m.Op == OpChallenge || m.Op == OpHello) && len(m.Nonce) != nonceLen {
		return fmt.Errorf("%v: nonce of %d bytes, want %d", m.Op, len(m.Nonce), nonceLen)
	}
	if (m.Op == OpHello || m.Op == OpWelcome) && len(m.MAC) != macLen {
		return fmt.Errorf("%v: MAC of %d bytes, want %d", m.Op, len(m.MAC), macLen)
	}
	if m.Lost != nil && (m.Op != OpAbort || *m.Lost < 0) {
		return fmt.Errorf("%v: lost peer %d", m.Op, *m.Lost)
	}
	if (m.Op == OpPut || m.Op == OpGet) && m.Key == "" {
		return fmt.Errorf("%v: empty key", m.Op)
	}
	return nil
}
