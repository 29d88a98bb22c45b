package bootstrap

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestAuthReflection: the key-value service proves itself only after the
// rank has (a stranger gets a nonce and nothing else), and neither side
// takes the other's proof sent back as its peer's.
func TestAuthReflection(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		s, _ := newTestServer(t, 2)
		for _, tc := range []struct {
			name string
			mac  func(ch *Msg) []byte
		}{
			{"challenge sent back", func(ch *Msg) []byte { return ch.Nonce }},
			{"server's label", func(ch *Msg) []byte { return serverProof([]byte("a guess"), ch.Nonce, ch.Nonce, 0) }},
			{"no proof", func(*Msg) []byte { return nil }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				ch, err := Decode(br, MaxHandshake)
				if err != nil || ch.Op != OpChallenge {
					t.Fatalf("first message %+v, %v; want a challenge", ch, err)
				}
				writeMsg(c, &Msg{Op: OpHello, Rank: 0, Nonce: ch.Nonce, MAC: tc.mac(ch)})
				for {
					m, err := Decode(br, MaxHandshake)
					if err != nil {
						break
					}
					if len(m.MAC) > 0 || m.Op == OpWelcome {
						t.Fatalf("the server answered a stranger with %+v", m)
					}
				}
			})
		}
	})
	t.Run("client", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			writeMsg(conn, &Msg{Op: OpChallenge, Nonce: make([]byte, nonceLen)})
			hello, err := Decode(conn, MaxHandshake)
			if err != nil {
				return
			}
			writeMsg(conn, &Msg{Op: OpWelcome, Size: 4, MAC: hello.MAC})
			io.Copy(io.Discard, conn)
		}()
		_, err = Dial(ln.Addr().String(), testSecret, 0)
		if err == nil || !strings.Contains(err.Error(), "does not know the job secret") {
			t.Fatalf("a server that sends the rank's proof back: %v", err)
		}
	})
}
