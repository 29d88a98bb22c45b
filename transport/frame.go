package transport

import (
	"encoding/binary"
	"fmt"
)

// HeaderSize is the size of an encoded Header on the wire.
const HeaderSize = 48

// Magic opens every header, so that garbage is rejected at the first frame.
const Magic uint16 = 0x584d // "MX" little-endian

// Kind says what a frame is for.
type Kind uint8

// Frame kinds. The protocol engine gives them meaning; transports only
// check that the kind is known.
const (
	KindEager  Kind = iota + 1 // a whole small message
	KindRTS                    // request to send: Len is the message size, payload may carry a SingleCopy descriptor
	KindCTS                    // clear to send: SReq names the send, RReq the receive
	KindData                   // rendezvous payload fragment: Seq is its byte offset, RReq the receive
	KindFin                    // receiver fetched a single-copy payload: SReq names the send
	KindCtrl                   // runtime control (abort notice, barrier tokens of the runtime)
	KindRMA                    // one-sided operations
	KindCredit                 // receiver returns credit: RReq bytes (see FlagCredit)
	kindEnd
)

var kindNames = [...]string{"", "eager", "rts", "cts", "data", "fin", "ctrl", "rma", "credit"}

func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is the fixed part of a frame.
type Header struct {
	Kind    Kind
	Flags   uint8
	Source  int32  // sender's world rank
	Context uint32 // communicator context
	Tag     int32
	Seq     uint64 // per-kind: byte offset of a Data fragment
	Len     uint64 // payload length in this frame; for RTS, the message size
	SReq    uint64 // sender's request id (RTS, CTS, Fin)
	RReq    uint64 // receiver's request id (CTS, Data)
}

// Header flags.
const (
	// FlagSingleCopy on an RTS: the payload is a SingleCopy descriptor.
	FlagSingleCopy uint8 = 1 << iota
	// FlagSync on an Eager or RTS: the sender wants to know the match
	// (synchronous send); answered by a Fin.
	FlagSync
	// FlagCredit on an Eager: the message is larger than the eager limit
	// and was sent on the receiver's credit instead of by rendezvous; once
	// the receiver has taken it, it returns its size, in the RReq of an
	// Eager frame it sends back or in a Credit frame. The RReq of any Eager
	// frame is credit returned to its receiver.
	FlagCredit
	// FlagCreditLow with FlagCredit: the sender has used more than half
	// its credit; return it without waiting for traffic to carry it.
	FlagCreditLow
)

// PayloadLen is the number of payload bytes that follow the header on the
// wire. An RTS announces the message size in Len but carries only its
// descriptor, whose length travels in Seq.
func (h *Header) PayloadLen() uint64 {
	if h.Kind == KindRTS {
		return h.Seq
	}
	return h.Len
}

// Encode writes h into b, which must be at least HeaderSize long.
func (h *Header) Encode(b []byte) {
	_ = b[HeaderSize-1]
	binary.LittleEndian.PutUint16(b[0:], Magic)
	b[2] = byte(h.Kind)
	b[3] = h.Flags
	binary.LittleEndian.PutUint32(b[4:], uint32(h.Source))
	binary.LittleEndian.PutUint32(b[8:], h.Context)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.Tag))
	binary.LittleEndian.PutUint64(b[16:], h.Seq)
	binary.LittleEndian.PutUint64(b[24:], h.Len)
	binary.LittleEndian.PutUint64(b[32:], h.SReq)
	binary.LittleEndian.PutUint64(b[40:], h.RReq)
}

// Decode reads a header from b, checking the magic, the kind and that the
// payload length does not exceed maxPayload (zero: no bound).
func (h *Header) Decode(b []byte, maxPayload uint64) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: header of %d bytes, need %d", ErrFrame, len(b), HeaderSize)
	}
	if m := binary.LittleEndian.Uint16(b[0:]); m != Magic {
		return fmt.Errorf("%w: bad magic %#04x (not an mpx peer?)", ErrFrame, m)
	}
	h.Kind = Kind(b[2])
	if h.Kind == 0 || h.Kind >= kindEnd {
		return fmt.Errorf("%w: unknown frame kind %d", ErrFrame, b[2])
	}
	h.Flags = b[3]
	h.Source = int32(binary.LittleEndian.Uint32(b[4:]))
	h.Context = binary.LittleEndian.Uint32(b[8:])
	h.Tag = int32(binary.LittleEndian.Uint32(b[12:]))
	h.Seq = binary.LittleEndian.Uint64(b[16:])
	h.Len = binary.LittleEndian.Uint64(b[24:])
	h.SReq = binary.LittleEndian.Uint64(b[32:])
	h.RReq = binary.LittleEndian.Uint64(b[40:])
	if h.Source < 0 {
		return fmt.Errorf("%w: negative source rank %d", ErrFrame, h.Source)
	}
	if maxPayload > 0 && h.PayloadLen() > maxPayload {
		return fmt.Errorf("%w: %s frame payload of %d bytes exceeds limit %d", ErrFrame, h.Kind, h.PayloadLen(), maxPayload)
	}
	return nil
}

func (h *Header) String() string {
	return fmt.Sprintf("%s src=%d ctx=%d tag=%d seq=%d len=%d sreq=%d rreq=%d flags=%#x",
		h.Kind, h.Source, h.Context, h.Tag, h.Seq, h.Len, h.SReq, h.RReq, h.Flags)
}
