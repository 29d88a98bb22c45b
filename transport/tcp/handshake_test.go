package tcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
)

// recordConn records what is written to it, for seed corpora.
type recordConn struct {
	net.Conn
	w *bytes.Buffer
}

func (c recordConn) Write(b []byte) (int, error) {
	c.w.Write(b)
	return c.Conn.Write(b)
}

type hsResult struct {
	from int
	st   hsStatus
	err  error
}

// runHandshake runs both sides over a pipe and returns each side's result
// and the bytes each wrote.
func runHandshake(dSecret, aSecret []byte, dialer, peer, acceptor int, verdict hsStatus) (dst hsStatus, acc hsResult, dWrote, aWrote []byte, derr error) {
	dc, ac := net.Pipe()
	var dbuf, abuf bytes.Buffer
	done := make(chan hsResult, 1)
	go func() {
		defer ac.Close()
		from, st, err := acceptHandshake(recordConn{ac, &abuf}, aSecret, acceptor, func(int, int) hsStatus { return verdict })
		done <- hsResult{from, st, err}
	}()
	dst, derr = dialHandshake(recordConn{dc, &dbuf}, dSecret, dialer, peer)
	dc.Close()
	acc = <-done
	return dst, acc, dbuf.Bytes(), abuf.Bytes(), derr
}

func TestHandshake(t *testing.T) {
	secret := []byte("job secret")
	tests := []struct {
		name             string
		dSecret, aSecret []byte
		dialer, peer     int
		acceptor         int
		verdict          hsStatus
		wantSt           hsStatus
		dErr, aErr       string
		aAuth            bool // acceptor's error wraps ErrAuth
	}{
		{name: "accept", dSecret: secret, aSecret: secret, dialer: 0, peer: 1, acceptor: 1, verdict: statusAccept, wantSt: statusAccept},
		{name: "duplicate", dSecret: secret, aSecret: secret, dialer: 3, peer: 1, acceptor: 1, verdict: statusDuplicate, wantSt: statusDuplicate},
		{name: "wrong rank verdict", dSecret: secret, aSecret: secret, dialer: 3, peer: 1, acceptor: 1, verdict: statusWrongRank, wantSt: statusWrongRank},
		{name: "wrong secret", dSecret: []byte("guess"), aSecret: secret, dialer: 0, peer: 1, acceptor: 1, verdict: statusAccept,
			dErr: "closed the connection after our proof", aErr: "does not match the job secret", aAuth: true},
		{name: "stale address", dSecret: secret, aSecret: secret, dialer: 0, peer: 2, acceptor: 1, verdict: statusAccept,
			dErr: "belongs to rank 1", aErr: "reading proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, acc, _, _, derr := runHandshake(tc.dSecret, tc.aSecret, tc.dialer, tc.peer, tc.acceptor, tc.verdict)
			if tc.dErr == "" {
				if derr != nil || acc.err != nil || st != tc.wantSt || acc.st != tc.wantSt || acc.from != tc.dialer {
					t.Fatalf("dialer: %v, %v; acceptor: from %d, %v, %v; want %v from %d", st, derr, acc.from, acc.st, acc.err, tc.wantSt, tc.dialer)
				}
				return
			}
			if derr == nil || !strings.Contains(derr.Error(), tc.dErr) {
				t.Errorf("dialer error %v, want %q", derr, tc.dErr)
			}
			if acc.err == nil || !strings.Contains(acc.err.Error(), tc.aErr) {
				t.Errorf("acceptor error %v, want %q", acc.err, tc.aErr)
			}
			if tc.aAuth && (!errors.Is(acc.err, transport.ErrAuth) || !errors.Is(derr, transport.ErrAuth)) {
				t.Errorf("errors %v / %v do not wrap ErrAuth", derr, acc.err)
			}
		})
	}
}

// TestHandshakeForgedVerdict: a verdict whose MAC does not match (an
// acceptor that does not know the secret, or a tampered status) is refused.
func TestHandshakeForgedVerdict(t *testing.T) {
	secret := []byte("job secret")
	dc, ac := net.Pipe()
	defer dc.Close()
	go func() {
		defer ac.Close()
		hello, err := readMsg(ac, hsHello)
		if err != nil {
			return
		}
		ch := hsMsg{Type: hsChallenge, From: hello.To, To: hello.From}
		writeMsg(ac, &ch)
		if _, err := readMsg(ac, hsProof); err != nil {
			return
		}
		// MAC made for "duplicate", status flipped to "accept".
		v := hsMsg{Type: hsVerdict, Status: statusAccept, From: hello.To, To: hello.From}
		v.Body = mac(secret, labelAccept, hello.From, hello.To, &hello.Body, &ch.Body, statusDuplicate)
		writeMsg(ac, &v)
	}()
	_, err := dialHandshake(dc, secret, 0, 1)
	if !errors.Is(err, transport.ErrAuth) || !strings.Contains(err.Error(), "verdict does not prove") {
		t.Errorf("forged verdict: %v", err)
	}
}

func TestHandshakeDecode(t *testing.T) {
	good := func() []byte {
		b := make([]byte, hsSize)
		(&hsMsg{Type: hsVerdict, Status: statusAccept, From: 1, To: 2}).encode(b)
		return b
	}
	with := func(i int, v byte) []byte { b := good(); b[i] = v; return b }
	frame := make([]byte, hsSize)
	(&transport.Header{Kind: transport.KindEager}).Encode(frame)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good()[:47], "47 bytes"},
		{"bad magic", with(0, 'X'), "bad magic"},
		{"data frame", frame, "data frame before authentication"},
		{"version", with(4, 2), "version 2, this rank speaks version 1"},
		{"type zero", with(5, 0), "unknown message type(0)"},
		{"type high", with(5, 9), "unknown message type(9)"},
		{"verdict without status", with(6, 0), "verdict with unknown status(0)"},
		{"verdict bad status", with(6, 7), "verdict with unknown status(7)"},
		{"hello with status", func() []byte { b := with(5, byte(hsHello)); return b }(), "hello carries a status"},
		{"reserved", with(7, 1), "reserved byte"},
		{"negative rank", with(11, 0x80), "from rank -"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m hsMsg
			err := m.decode(tc.in)
			if !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode: %v, want %q", err, tc.want)
			}
		})
	}
	var m hsMsg
	if err := m.decode(good()); err != nil || m.Type != hsVerdict || m.Status != statusAccept || m.From != 1 || m.To != 2 {
		t.Errorf("decode(good) = %+v, %v", m, err)
	}
}

// FuzzHandshake feeds arbitrary bytes to the message decoder and to an
// acceptor as if a dialer sent them: nothing panics, decoded messages
// re-encode to the same bytes, and no input passes the secret check.
func FuzzHandshake(f *testing.F) {
	secret := []byte("fuzz secret")
	for _, st := range []hsStatus{statusAccept, statusDuplicate, statusWrongRank} {
		_, _, dWrote, aWrote, _ := runHandshake(secret, secret, 0, 1, 1, st)
		f.Add(dWrote)
		f.Add(aWrote)
		for i := 0; i+hsSize <= len(aWrote); i += hsSize {
			f.Add(aWrote[i : i+hsSize])
		}
	}
	_, _, dWrote, _, _ := runHandshake([]byte("other"), secret, 2, 1, 1, statusAccept)
	f.Add(dWrote)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) >= hsSize {
			var m hsMsg
			if err := m.decode(in[:hsSize]); err == nil {
				out := make([]byte, hsSize)
				m.encode(out)
				if !bytes.Equal(out, in[:hsSize]) {
					t.Fatalf("decode/encode changed the message:\n in  %x\n out %x", in[:hsSize], out)
				}
			}
		}
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), io.Discard}
		decided := false
		_, _, err := acceptHandshake(rw, secret, 1, func(int, int) hsStatus { decided = true; return statusAccept })
		if err == nil || decided {
			t.Fatalf("input of %d bytes passed the acceptor's secret check", len(in))
		}
	})
}
