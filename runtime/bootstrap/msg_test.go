package bootstrap

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// realMessages are one of every message the protocol sends, as sent.
func realMessages() []*Msg {
	nonce := bytes.Repeat([]byte{0xa5}, nonceLen)
	mac := clientProof(testSecret, nonce, nonce, 3)
	return []*Msg{
		{Op: OpChallenge, Nonce: nonce},
		{Op: OpHello, Rank: 3, Nonce: nonce, MAC: mac},
		{Op: OpWelcome, Size: 4, MAC: serverProof(testSecret, nonce, nonce, 3)},
		{Op: OpPut, Key: "tcp/3", Value: []byte("127.0.0.1:40123")},
		{Op: OpGet, ID: 7, Key: "tcp/3"},
		{Op: OpValue, ID: 7, Value: []byte("127.0.0.1:40123")},
		{Op: OpFence, ID: 8},
		{Op: OpFinalize, ID: 9},
		{Op: OpRelease, ID: 9},
		{Op: OpAbort, ID: 10, Code: 3, Text: "rank 3: recv: truncated"},
		{Op: OpAbort, ID: 12, Code: 1, Text: "recv rank 3 <- 0: peer is gone", Lost: new(int)},
		{Op: OpAck, ID: 10},
		{Op: OpReportReq, ID: 11},
		{Op: OpReport, ID: 11, Text: "Recv comm=world src=2 tag=5 for 10s"},
		{Op: OpError, ID: 7, Text: `key "x" not found`},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range realMessages() {
		t.Run(m.Op.String(), func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(bytes.NewReader(b), MaxMessage)
			if err != nil {
				t.Fatal(err)
			}
			if got.Op != m.Op || got.ID != m.ID || got.Rank != m.Rank || got.Size != m.Size || got.Code != m.Code ||
				got.Key != m.Key || got.Text != m.Text || !bytes.Equal(got.Value, m.Value) ||
				!bytes.Equal(got.Nonce, m.Nonce) || !bytes.Equal(got.MAC, m.MAC) || (got.Lost == nil) != (m.Lost == nil) ||
				got.Lost != nil && *got.Lost != *m.Lost {
				t.Fatalf("decoded %+v, want %+v", got, m)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Marshal(&Msg{Op: OpFence, ID: 1})
	unknown, _ := Marshal(&Msg{Op: opEnd})
	noKey, _ := Marshal(&Msg{Op: OpGet, ID: 1})
	minus1, two := -1, 2
	negLost, _ := Marshal(&Msg{Op: OpAbort, ID: 1, Lost: &minus1})
	fenceLost, _ := Marshal(&Msg{Op: OpFence, ID: 1, Lost: &two})
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
		text string
	}{
		{"over limit", good, 2, ErrTooLarge, "exceeds"},
		{"unknown op", unknown, MaxMessage, ErrMalformed, "unknown op"},
		{"get without key", noKey, MaxMessage, ErrMalformed, "empty key"},
		{"abort with a negative lost peer", negLost, MaxMessage, ErrMalformed, "abort: lost peer -1"},
		{"lost peer outside an abort", fenceLost, MaxMessage, ErrMalformed, "fence: lost peer 2"},
		{"trailing bytes", append([]byte{0, 0, 0, byte(len(good) - 4 + 1)}, append(good[4:], 0xc0)...), MaxMessage, ErrMalformed, "after the message"},
		{"not msgpack", []byte{0, 0, 0, 1, 0xc1}, MaxMessage, ErrMalformed, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic or
// allocate past the limit, and what it accepts must encode back to a
// message that decodes to the same thing.
func FuzzDecode(f *testing.F) {
	for _, m := range realMessages() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data), MaxMessage)
		if err != nil {
			return
		}
		b1, err := Marshal(m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := Decode(bytes.NewReader(b1), MaxMessage)
		if err != nil {
			t.Fatalf("decode of a re-encoding: %v", err)
		}
		b2, err := Marshal(m2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("re-encodings differ: %x vs %x (%v)", b1, b2, err)
		}
	})
}

// FuzzHandshake plays a stranger who knows the protocol but not the
// secret: whatever it sends after the challenge, the server must refuse it
// (the proof depends on a nonce the stranger never saw before sending),
// without panicking.
func FuzzHandshake(f *testing.F) {
	for _, m := range realMessages() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewServer(4, testSecret, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.HandshakeTimeout = time.Second
		srvSide, stranger := net.Pipe()
		go func() {
			Decode(stranger, MaxHandshake)
			stranger.Write(data)
			stranger.Close()
		}()
		sc, err := s.handshake(srvSide, bufio.NewReader(srvSide))
		srvSide.Close()
		if err == nil {
			t.Fatalf("stranger admitted as rank %d", sc.rank)
		}
	})
}
