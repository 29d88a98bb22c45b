package tcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// TestHandshakeReflection: neither side of the ranks' handshake can be
// made to accept its own (or its peer's) message sent back at it, and an
// acceptor writes nothing but its nonce to a dialer that has not proved
// the secret, so it cannot serve as an oracle for a relay.
func TestHandshakeReflection(t *testing.T) {
	secret := []byte("job secret")
	t.Run("dialer's proof sent back as the verdict", func(t *testing.T) {
		dc, ac := net.Pipe()
		defer dc.Close()
		go func() {
			defer ac.Close()
			hello, err := readMsg(ac, hsHello)
			if err != nil {
				return
			}
			ch := hsMsg{Type: hsChallenge, From: hello.To, To: hello.From, Body: hello.Body}
			writeMsg(ac, &ch)
			proof, err := readMsg(ac, hsProof)
			if err != nil {
				return
			}
			v := hsMsg{Type: hsVerdict, Status: statusAccept, From: hello.To, To: hello.From, Body: proof.Body}
			writeMsg(ac, &v)
		}()
		_, err := dialHandshake(dc, secret, 0, 1)
		if !errors.Is(err, transport.ErrAuth) {
			t.Errorf("reflected proof taken as a verdict: %v", err)
		}
	})
	attacks := []struct {
		name  string
		proof func(hello, ch hsMsg) [32]byte
	}{
		{"challenge sent back as the proof", func(_, ch hsMsg) [32]byte { return ch.Body }},
		{"zero proof", func(hsMsg, hsMsg) [32]byte { return [32]byte{} }},
		{"acceptor's label", func(hello, ch hsMsg) [32]byte {
			return mac([]byte("a guess"), labelAccept, hello.From, hello.To, &hello.Body, &ch.Body, statusAccept)
		}},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			dc, ac := net.Pipe()
			var wrote bytes.Buffer
			done := make(chan error, 1)
			go func() {
				defer ac.Close()
				_, _, err := acceptHandshake(recordConn{ac, &wrote}, secret, 1, func(int, int) hsStatus { return statusAccept })
				done <- err
			}()
			dc.SetDeadline(time.Now().Add(10 * time.Second))
			hello := hsMsg{Type: hsHello, From: 0, To: 1} // a nonce of the stranger's choosing: zeros
			writeMsg(dc, &hello)
			ch, err := readMsg(dc, hsChallenge)
			if err != nil {
				t.Fatal(err)
			}
			proof := hsMsg{Type: hsProof, From: 0, To: 1, Body: tc.proof(hello, ch)}
			writeMsg(dc, &proof)
			rest, _ := io.ReadAll(dc)
			dc.Close()
			if err := <-done; !errors.Is(err, transport.ErrAuth) {
				t.Errorf("acceptor: %v, want ErrAuth", err)
			}
			if len(rest) != 0 || wrote.Len() != hsSize {
				t.Errorf("acceptor wrote %d bytes (%d after the challenge) to a stranger, want only its %d-byte challenge", wrote.Len(), len(rest), hsSize)
			}
		})
	}
}
