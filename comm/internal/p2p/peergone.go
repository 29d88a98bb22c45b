package p2p

import "fmt"

// PeerGoneError is the error of every operation that failed because the
// link to world rank Peer broke. It matches ErrPeerGone with errors.Is, and
// carries the rank typed, so that a rank aborting because of it can tell
// the launcher which peer's loss is the cause (the launcher then blames
// that peer's own fate rather than the rank that noticed it).
type PeerGoneError struct {
	Peer int   // world rank of the lost peer
	Err  error // what the transport saw
}

func (e *PeerGoneError) Error() string {
	return fmt.Sprintf("%v: rank %d: %v", ErrPeerGone, e.Peer, e.Err)
}

// Is makes errors.Is(err, ErrPeerGone) true.
func (e *PeerGoneError) Is(target error) bool { return target == ErrPeerGone }

func (e *PeerGoneError) Unwrap() error { return e.Err }
