package tcp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mpx-hpc/mpx/transport"
)

// The handshake proves, in both directions, that each end knows the job
// secret before either accepts a frame, and lets the acceptor settle which
// of two simultaneous connections survives.
//
//	dialer   -> acceptor  hello     from=dialer to=acceptor body=dialer nonce
//	acceptor -> dialer    challenge from=acceptor to=dialer body=acceptor nonce
//	dialer   -> acceptor  proof     body=HMAC(secret, "dial", ranks, nonces)
//	acceptor -> dialer    verdict   status, body=HMAC(secret, "accept", ranks, nonces, status)
//
// The acceptor proves itself only after the dialer has, so a stranger learns
// nothing, and the direction labels stop one side's proof being replayed as
// the other's. Fresh nonces on both sides stop replays across connections.
// Every message is hsSize bytes; a dialer sends frames only after an
// "accept" verdict.

const (
	hsMagic   uint32 = 0x4858504d // "MPXH" little-endian; differs from frame magic
	hsVersion uint8  = 1
	hsSize           = 48
	nonceSize        = 32
)

type hsType uint8

const (
	hsHello hsType = iota + 1
	hsChallenge
	hsProof
	hsVerdict
	hsTypeEnd
)

var hsTypeNames = [...]string{"", "hello", "challenge", "proof", "verdict"}

func (t hsType) String() string {
	if t > 0 && t < hsTypeEnd {
		return hsTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Verdict statuses.
type hsStatus uint8

const (
	statusAccept    hsStatus = iota + 1
	statusDuplicate          // a connection between the pair exists or is being made by the lower rank
	statusWrongRank          // the dialer named a rank that is not this one, or is not in the job
	statusEnd
)

var statusNames = [...]string{"", "accept", "duplicate connection", "wrong rank"}

func (s hsStatus) String() string {
	if s > 0 && s < statusEnd {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// hsMsg is one handshake message. From and To are world ranks.
type hsMsg struct {
	Type   hsType
	Status hsStatus // verdict only; zero otherwise
	From   int32
	To     int32
	Body   [32]byte // nonce (hello, challenge) or MAC (proof, verdict)
}

func (m *hsMsg) encode(b []byte) {
	_ = b[hsSize-1]
	binary.LittleEndian.PutUint32(b[0:], hsMagic)
	b[4] = hsVersion
	b[5] = byte(m.Type)
	b[6] = byte(m.Status)
	b[7] = 0
	binary.LittleEndian.PutUint32(b[8:], uint32(m.From))
	binary.LittleEndian.PutUint32(b[12:], uint32(m.To))
	copy(b[16:48], m.Body[:])
}

// errHandshake marks a handshake message that could not be decoded.
var errHandshake = errors.New("malformed handshake")

// decode reads a handshake message from b, rejecting anything that is not
// exactly a well-formed message of this version.
func (m *hsMsg) decode(b []byte) error {
	if len(b) != hsSize {
		return fmt.Errorf("%w: %d bytes, want %d", errHandshake, len(b), hsSize)
	}
	if mg := binary.LittleEndian.Uint32(b[0:]); mg != hsMagic {
		if uint16(mg) == transport.Magic {
			return fmt.Errorf("%w: a data frame before authentication", errHandshake)
		}
		return fmt.Errorf("%w: bad magic %#08x (not an mpx tcp peer?)", errHandshake, mg)
	}
	if b[4] != hsVersion {
		return fmt.Errorf("%w: protocol version %d, this rank speaks version %d (mixed mpx builds?)", errHandshake, b[4], hsVersion)
	}
	m.Type = hsType(b[5])
	if m.Type == 0 || m.Type >= hsTypeEnd {
		return fmt.Errorf("%w: unknown message %s", errHandshake, m.Type)
	}
	m.Status = hsStatus(b[6])
	switch {
	case m.Type == hsVerdict && (m.Status == 0 || m.Status >= statusEnd):
		return fmt.Errorf("%w: verdict with unknown %s", errHandshake, m.Status)
	case m.Type != hsVerdict && m.Status != 0:
		return fmt.Errorf("%w: %s carries a status (%d)", errHandshake, m.Type, b[6])
	}
	if b[7] != 0 {
		return fmt.Errorf("%w: reserved byte is %#02x", errHandshake, b[7])
	}
	m.From = int32(binary.LittleEndian.Uint32(b[8:]))
	m.To = int32(binary.LittleEndian.Uint32(b[12:]))
	if m.From < 0 || m.To < 0 {
		return fmt.Errorf("%w: %s from rank %d to rank %d", errHandshake, m.Type, m.From, m.To)
	}
	copy(m.Body[:], b[16:48])
	return nil
}

func writeMsg(w io.Writer, m *hsMsg) error {
	var b [hsSize]byte
	m.encode(b[:])
	_, err := w.Write(b[:])
	return err
}

// readMsg reads one message and checks it is of type want.
func readMsg(r io.Reader, want hsType) (hsMsg, error) {
	var b [hsSize]byte
	var m hsMsg
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return m, fmt.Errorf("reading %s: %w", want, err)
	}
	if err := m.decode(b[:]); err != nil {
		return m, err
	}
	if m.Type != want {
		return m, fmt.Errorf("%w: got %s, want %s", errHandshake, m.Type, want)
	}
	return m, nil
}

// mac computes the proof of one side: label names the direction, dialer and
// acceptor are the ranks, status is zero for the dialer's proof.
func mac(secret []byte, label string, dialer, acceptor int32, nd, na *[nonceSize]byte, status hsStatus) [32]byte {
	m := hmac.New(sha256.New, secret)
	var b [10]byte
	b[0] = hsVersion
	binary.LittleEndian.PutUint32(b[1:], uint32(dialer))
	binary.LittleEndian.PutUint32(b[5:], uint32(acceptor))
	b[9] = byte(status)
	m.Write([]byte(label))
	m.Write(b[:])
	m.Write(nd[:])
	m.Write(na[:])
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

const (
	labelDial   = "mpx/tcp dialer proof"
	labelAccept = "mpx/tcp acceptor verdict"
)

// dialHandshake runs the dialer's side on rw: this is rank me reaching rank
// peer. It returns the acceptor's verdict, which is authenticated.
func dialHandshake(rw io.ReadWriter, secret []byte, me, peer int) (hsStatus, error) {
	hello := hsMsg{Type: hsHello, From: int32(me), To: int32(peer)}
	if _, err := rand.Read(hello.Body[:]); err != nil {
		return 0, fmt.Errorf("drawing a nonce: %w", err)
	}
	if err := writeMsg(rw, &hello); err != nil {
		return 0, fmt.Errorf("sending hello: %w", err)
	}
	ch, err := readMsg(rw, hsChallenge)
	if err != nil {
		return 0, err
	}
	if ch.From != int32(peer) || ch.To != int32(me) {
		return 0, fmt.Errorf("the address belongs to rank %d (talking to rank %d), not rank %d (stale address?)", ch.From, ch.To, peer)
	}
	proof := hsMsg{Type: hsProof, From: int32(me), To: int32(peer)}
	proof.Body = mac(secret, labelDial, int32(me), int32(peer), &hello.Body, &ch.Body, 0)
	if err := writeMsg(rw, &proof); err != nil {
		return 0, fmt.Errorf("sending proof: %w", err)
	}
	v, err := readMsg(rw, hsVerdict)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("%w: rank %d closed the connection after our proof (different job secret?)", transport.ErrAuth, peer)
	}
	if err != nil {
		return 0, err
	}
	want := mac(secret, labelAccept, int32(me), int32(peer), &hello.Body, &ch.Body, v.Status)
	if !hmac.Equal(want[:], v.Body[:]) {
		return 0, fmt.Errorf("%w: rank %d's verdict does not prove the job secret", transport.ErrAuth, peer)
	}
	return v.Status, nil
}

// acceptHandshake runs the acceptor's side on rw for rank me. Once the
// dialer has proven the secret, decide (given the dialer's rank and the rank
// it meant to reach) returns the verdict, which is sent authenticated. It
// returns the dialer's rank and the verdict sent; an error means the dialer
// is not to be trusted or the connection broke, and no verdict was sent
// unless the error says so.
func acceptHandshake(rw io.ReadWriter, secret []byte, me int, decide func(from, to int) hsStatus) (int, hsStatus, error) {
	hello, err := readMsg(rw, hsHello)
	if err != nil {
		return -1, 0, err
	}
	ch := hsMsg{Type: hsChallenge, From: int32(me), To: hello.From}
	if _, err := rand.Read(ch.Body[:]); err != nil {
		return -1, 0, fmt.Errorf("drawing a nonce: %w", err)
	}
	if err := writeMsg(rw, &ch); err != nil {
		return -1, 0, fmt.Errorf("sending challenge: %w", err)
	}
	proof, err := readMsg(rw, hsProof)
	if err != nil {
		return -1, 0, err
	}
	if proof.From != hello.From || proof.To != hello.To {
		return -1, 0, fmt.Errorf("%w: proof from rank %d to %d after hello from rank %d to %d", errHandshake, proof.From, proof.To, hello.From, hello.To)
	}
	// The proof binds the rank the dialer meant to reach, so a proof made
	// for another rank's challenge never matches here.
	want := mac(secret, labelDial, hello.From, hello.To, &hello.Body, &ch.Body, 0)
	if !hmac.Equal(want[:], proof.Body[:]) {
		return -1, 0, fmt.Errorf("%w: proof from claimed rank %d does not match the job secret", transport.ErrAuth, hello.From)
	}
	st := decide(int(hello.From), int(hello.To))
	v := hsMsg{Type: hsVerdict, Status: st, From: int32(me), To: hello.From}
	v.Body = mac(secret, labelAccept, hello.From, hello.To, &hello.Body, &ch.Body, st)
	if err := writeMsg(rw, &v); err != nil {
		return int(hello.From), st, fmt.Errorf("sending verdict %s: %w", st, err)
	}
	return int(hello.From), st, nil
}
