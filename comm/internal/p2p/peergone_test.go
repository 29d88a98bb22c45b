package p2p

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// A lost peer's error is ErrPeerGone, names the peer typed (for the
// Abort that tells the launcher), and keeps its text and its cause.
func TestPeerGoneError(t *testing.T) {
	err := fmt.Errorf("recv rank 0 <- 2 on world: %w", &PeerGoneError{Peer: 2, Err: io.EOF})
	var gone *PeerGoneError
	if !errors.Is(err, ErrPeerGone) || !errors.As(err, &gone) || gone.Peer != 2 || !errors.Is(err, io.EOF) {
		t.Fatalf("%v: Is ErrPeerGone %v, As %v (%+v), Is EOF %v", err, errors.Is(err, ErrPeerGone), errors.As(err, &gone), gone, errors.Is(err, io.EOF))
	}
	if want := "recv rank 0 <- 2 on world: peer is gone: rank 2: EOF"; err.Error() != want {
		t.Fatalf("text %q, want %q", err.Error(), want)
	}
}
