package tcp

import (
	"fmt"

	"github.com/mpx-hpc/mpx/transport"
)

// directMin is the smallest remainder of a payload read straight into the
// Handler's buffer; a smaller one goes through the staging buffer, where
// one read also brings the frames behind it.
const directMin = 4 << 10

// frameReader cuts a connection's byte stream into frames. Whoever holds
// the pair's read role drives it: target gives the buffer the next read
// fills, advance accounts for what the read brought and delivers every
// frame completed. A frame may be split across reads, and across readers.
type frameReader struct {
	buf  []byte // staging buffer; the unread bytes are buf[r:w]
	r, w int

	h       transport.Header // the frame whose payload is being filled
	payload []byte           // its buffer, from the Handler's Alloc
	got     int              // payload bytes filled
	inFrame bool             // h is decoded and its payload incomplete
	direct  bool             // the last target was payload[got:]

	frames uint64 // frames delivered, so a poll can tell it found some
}

func newFrameReader(size int) frameReader { return frameReader{buf: make([]byte, size)} }

// target returns the buffer the next read should fill.
func (f *frameReader) target() []byte {
	if f.inFrame && f.r == f.w && len(f.payload)-f.got >= directMin {
		f.direct = true
		return f.payload[f.got:]
	}
	f.direct = false
	switch {
	case f.r == f.w:
		f.r, f.w = 0, 0
	case len(f.buf)-f.w < transport.HeaderSize:
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	return f.buf[f.w:]
}

// midFrame reports whether the stream stopped inside a frame: a header
// partly read or a payload partly filled.
func (f *frameReader) midFrame() bool { return f.inFrame || f.r != f.w }

// advance accounts for n bytes read into the last target and delivers the
// frames they complete. An error means the stream is malformed (or the
// Handler broke its contract): the connection must be dropped.
func (f *frameReader) advance(n int, hd transport.Handler, peer int) error {
	if f.direct {
		f.got += n
	} else {
		f.w += n
	}
	for {
		if !f.inFrame {
			if f.w-f.r < transport.HeaderSize {
				return nil
			}
			if err := f.h.Decode(f.buf[f.r:f.r+transport.HeaderSize], MaxFrame); err != nil {
				return err
			}
			f.r += transport.HeaderSize
			if int(f.h.Source) != peer {
				return fmt.Errorf("%w: %s frame claims source rank %d on the connection from rank %d", transport.ErrFrame, f.h.Kind, f.h.Source, peer)
			}
			n := f.h.PayloadLen()
			f.payload = hd.Alloc(&f.h)
			if uint64(len(f.payload)) != n {
				return fmt.Errorf("handler's Alloc gave %d bytes for a %d-byte %s payload", len(f.payload), n, f.h.Kind)
			}
			f.got, f.inFrame = 0, true
		}
		k := copy(f.payload[f.got:], f.buf[f.r:f.w])
		f.r += k
		f.got += k
		if f.got < len(f.payload) {
			return nil
		}
		p := f.payload
		f.payload, f.inFrame = nil, false
		f.frames++
		hd.Deliver(&f.h, p)
	}
}
