package launcher

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// maxLine is the longest line forwarded whole; a longer one is cut into
// pieces of this size, so that a rank printing without newlines cannot make
// the launcher buffer without bound.
const maxLine = 64 << 10

// syncWriter serializes writes of whole lines from many ranks to one
// destination, so that lines never interleave.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// lineWriter forwards what a rank writes line by line, each with a prefix
// (empty without --tag-output). It is what a Starter writes a rank's output
// into; Close flushes a last line that has no newline.
type lineWriter struct {
	mu     sync.Mutex
	prefix []byte
	out    syncWriter
	buf    []byte
	// panicked is set to the first line that reads like the start of a
	// Go panic (its value) or fatal runtime error (the whole line), so
	// that the summary can say so.
	panicked *atomic.Pointer[string]
}

// maxPanicText bounds the panic message quoted in the job's summary.
const maxPanicText = 200

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	rest := l.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 && len(rest) < maxLine {
			break
		}
		n := i + 1
		if i < 0 || n > maxLine {
			n = maxLine
		}
		l.emit(rest[:n])
		rest = rest[n:]
	}
	// Move the partial line to the front, so the buffer does not grow.
	l.buf = append(l.buf[:0], rest...)
	return len(p), nil
}

func (l *lineWriter) emit(line []byte) {
	if l.panicked != nil && l.panicked.Load() == nil {
		var msg []byte
		if rest, ok := bytes.CutPrefix(line, []byte("panic: ")); ok {
			msg = rest
		} else if bytes.HasPrefix(line, []byte("fatal error: ")) {
			msg = line
		}
		if msg != nil {
			msg = bytes.TrimRight(msg, "\r\n")
			if len(msg) > maxPanicText {
				msg = append(msg[:maxPanicText:maxPanicText], "..."...)
			}
			s := string(msg)
			l.panicked.CompareAndSwap(nil, &s)
		}
	}
	out := make([]byte, 0, len(l.prefix)+len(line)+1)
	out = append(append(out, l.prefix...), line...)
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	// A failing destination (closed terminal) must not stop the job's
	// bookkeeping; the output is lost either way.
	l.out.Write(out)
}

// Close forwards what is left, as a line.
func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
	return nil
}
