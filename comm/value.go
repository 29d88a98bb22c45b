package comm

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// SendValue sends any Go value that msgpack can encode (structs, maps,
// strings, slices) to dest. For numeric slices, Send is faster.
func SendValue(c *Comm, v any, dest, tag int) error {
	if err := c.checkDest("send", dest, tag); err != nil || dest == ProcNull {
		return err
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return c.fail("send", dest, fmt.Errorf("%w: encoding %T: %v", ErrArg, v, err))
	}
	return c.fail("send", dest, c.sendBytes(c.ctx, dest, tag, b))
}

// RecvValue receives a value sent with SendValue into the value ptr points
// to. It probes for the message's size first, so a Comm receiving values
// with AnySource from several goroutines at once must serialise them.
func RecvValue(c *Comm, ptr any, src, tag int) (Status, error) {
	if err := c.checkSource("recv", src, tag); err != nil {
		return Status{}, err
	}
	if src == ProcNull {
		return Status{Source: ProcNull, Tag: AnyTag}, nil
	}
	st, err := c.Probe(src, tag)
	if err != nil {
		return st, err
	}
	buf := make([]byte, st.Bytes)
	st, err = c.recvBytes(c.ctx, st.Source, st.Tag, buf)
	if err != nil {
		return st, c.fail("recv", src, err)
	}
	if err := msgpack.Unmarshal(buf, ptr); err != nil {
		return st, c.fail("recv", st.Source, fmt.Errorf("%w: decoding %d bytes into %T: %v", ErrArg, len(buf), ptr, err))
	}
	st.Count = 1
	return st, nil
}
