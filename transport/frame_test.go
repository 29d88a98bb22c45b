package transport

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

// sampleHeaders are one real header of every kind, with fields at their
// extremes; the fuzz target seeds its corpus from their encodings.
func sampleHeaders() []Header {
	return []Header{
		{Kind: KindEager, Source: 0, Context: 0, Tag: 0, Len: 0},
		{Kind: KindEager, Flags: FlagSync, Source: math.MaxInt32, Context: math.MaxUint32, Tag: math.MinInt32, Seq: math.MaxUint64, Len: 4096, SReq: 1, RReq: math.MaxUint64},
		{Kind: KindRTS, Flags: FlagSingleCopy, Source: 3, Context: 7, Tag: -1, Seq: 24, Len: 1 << 40, SReq: 99},
		{Kind: KindCTS, Source: 5, Context: 1, Tag: 11, SReq: 99, RReq: 12},
		{Kind: KindData, Source: 2, Seq: 1 << 20, Len: 1 << 20, RReq: 12},
		{Kind: KindFin, Source: 1, SReq: 99},
		{Kind: KindCtrl, Source: 0, Tag: 1, Len: 8},
		{Kind: KindRMA, Flags: 0x80, Source: 4, Context: 3, Seq: 5, Len: 64, SReq: 6, RReq: 7},
		{Kind: KindCredit, Source: 2, RReq: 1 << 20},
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range sampleHeaders() {
		t.Run(h.Kind.String(), func(t *testing.T) {
			b := make([]byte, HeaderSize)
			h.Encode(b)
			var got Header
			if err := got.Decode(b, 0); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != h {
				t.Errorf("round trip:\n got  %v\n want %v", &got, &h)
			}
		})
	}
}

// TestHeaderLayout pins the wire format: little-endian fields at fixed
// offsets, so that ranks built separately agree.
func TestHeaderLayout(t *testing.T) {
	h := Header{Kind: KindCTS, Flags: 0x02, Source: 0x01020304, Context: 0x05060708, Tag: -2,
		Seq: 0x1112131415161718, Len: 0x2122232425262728, SReq: 0x3132333435363738, RReq: 0x4142434445464748}
	b := make([]byte, HeaderSize)
	h.Encode(b)
	want := "4d58" + "03" + "02" + "04030201" + "08070605" + "feffffff" +
		"1817161514131211" + "2827262524232221" + "3837363534333231" + "4847464544434241"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("encoding\n got  %s\n want %s", got, want)
	}
}

func TestHeaderDecodeErrors(t *testing.T) {
	enc := func(h Header) []byte {
		b := make([]byte, HeaderSize)
		h.Encode(b)
		return b
	}
	with := func(b []byte, i int, v byte) []byte { b[i] = v; return b }
	tests := []struct {
		name string
		in   []byte
		max  uint64
		want string
	}{
		{"empty", nil, 0, "header of 0 bytes, need 48"},
		{"short", enc(Header{Kind: KindEager})[:47], 0, "header of 47 bytes"},
		{"bad magic", with(enc(Header{Kind: KindEager}), 0, 'G'), 0, "bad magic"},
		{"kind zero", enc(Header{}), 0, "unknown frame kind 0"},
		{"kind past end", with(enc(Header{Kind: KindEager}), 2, byte(kindEnd)), 0, "unknown frame kind 9"},
		{"negative source", enc(Header{Kind: KindEager, Source: -1}), 0, "negative source rank -1"},
		{"payload over limit", enc(Header{Kind: KindData, Len: 1025}), 1024, "data frame payload of 1025 bytes exceeds limit 1024"},
		{"rts descriptor over limit", enc(Header{Kind: KindRTS, Seq: 2000, Len: 10}), 1024, "rts frame payload of 2000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			err := h.Decode(tc.in, tc.max)
			if !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want ErrFrame with %q", err, tc.want)
			}
		})
	}
	// At the limit is fine; an RTS's message size (Len) is not bounded by it.
	var h Header
	if err := h.Decode(enc(Header{Kind: KindData, Len: 1024}), 1024); err != nil {
		t.Errorf("payload at the limit: %v", err)
	}
	if err := h.Decode(enc(Header{Kind: KindRTS, Seq: 16, Len: 1 << 50}), 1024); err != nil {
		t.Errorf("large RTS with small descriptor: %v", err)
	}
}

func TestPayloadLen(t *testing.T) {
	tests := []struct {
		h    Header
		want uint64
	}{
		{Header{Kind: KindEager, Seq: 9, Len: 5}, 5},
		{Header{Kind: KindRTS, Seq: 9, Len: 5000}, 9},
		{Header{Kind: KindData, Seq: 4096, Len: 100}, 100},
		{Header{Kind: KindCTS}, 0},
	}
	for _, tc := range tests {
		if got := tc.h.PayloadLen(); got != tc.want {
			t.Errorf("%v: PayloadLen %d, want %d", &tc.h, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindEager, "eager"}, {KindRTS, "rts"}, {KindCTS, "cts"}, {KindData, "data"},
		{KindFin, "fin"}, {KindCtrl, "ctrl"}, {KindRMA, "rma"}, {KindCredit, "credit"}, {0, "kind(0)"}, {kindEnd, "kind(9)"}, {255, "kind(255)"},
	}
	for _, tc := range tests {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tc.k), got, tc.want)
		}
	}
	h := Header{Kind: KindData, Source: 1, Context: 2, Tag: 3, Seq: 4, Len: 5, SReq: 6, RReq: 7, Flags: 1}
	if got, want := h.String(), "data src=1 ctx=2 tag=3 seq=4 len=5 sreq=6 rreq=7 flags=0x1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPeerError(t *testing.T) {
	tests := []struct {
		e    PeerError
		want string
	}{
		{PeerError{Op: "dial", Peer: 3, Addr: "127.0.0.1:5", Err: ErrAuth}, "dial rank 3 at 127.0.0.1:5: peer failed authentication"},
		{PeerError{Op: "recv", Peer: 1, Err: ErrFrame}, "recv rank 1: malformed frame"},
		{PeerError{Op: "handshake", Peer: -1, Addr: "10.0.0.1:9", Err: ErrAuth}, "handshake unknown peer at 10.0.0.1:9: peer failed authentication"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(&tc.e, tc.e.Err) {
			t.Errorf("%q does not unwrap to %v", tc.want, tc.e.Err)
		}
	}
}
