package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// IsTerminal reports whether f is a terminal (a character device that is
// not /dev/null), where a progress bar may be drawn.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// Bar draws a one-line progress bar, redrawn in place with carriage
// returns, and erased when the work is done.
type Bar struct {
	W     io.Writer
	Label string
	Width int // cells of the bar; zero means 30
}

// Update redraws the bar for done of total.
func (b *Bar) Update(done, total int) {
	width := b.Width
	if width == 0 {
		width = 30
	}
	if total <= 0 {
		return
	}
	if done >= total {
		fmt.Fprint(b.W, "\r\033[K")
		return
	}
	full := width * done / total
	fmt.Fprintf(b.W, "\r%s [%s%s] %d/%d", b.Label, strings.Repeat("#", full), strings.Repeat(".", width-full), done, total)
}

// NewProgress returns a progress callback drawing on f when f is a
// terminal, and nil (no output at all) otherwise.
func NewProgress(f *os.File, label string) func(done, total int) {
	if !IsTerminal(f) {
		return nil
	}
	b := &Bar{W: f, Label: label}
	return b.Update
}
