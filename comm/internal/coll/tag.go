package coll

// Tags. Collective traffic travels in a context of its own, so its tags
// need not avoid user tags; they must keep apart the messages of different
// calls on one communicator (non-blocking collectives may be outstanding
// together) and, for readability of schedules and defence against
// mismatched calls, the rounds within a call.
//
// A tag is a non-negative int32: 16 bits of the call's sequence number
// (calls are numbered identically on every rank, because every rank makes
// its collective calls in the same order), then 15 bits of round. A call
// made of several phases (scatter then allgather) gives each phase its own
// span of rounds. Wrap-around of either field is harmless: messages between
// one pair on one context are non-overtaking, so only calls or rounds that
// are outstanding together need distinct tags, and fewer than 2^16 calls or
// 2^15 rounds are.
const (
	seqBits   = 16
	roundBits = 15
	roundMask = 1<<roundBits - 1
	seqMask   = 1<<seqBits - 1
	// phaseSpan is the number of rounds reserved for each phase of a
	// composite algorithm.
	phaseSpan = 1 << 12
)

// Tag numbers the messages of one collective call.
type Tag struct {
	seq uint32
	off int
}

// NewTag returns the tags of the call with sequence number seq.
func NewTag(seq uint32) Tag { return Tag{seq: seq} }

// At is the tag of the given round.
func (t Tag) At(round int) int {
	return int(t.seq&seqMask)<<roundBits | (t.off+round)&roundMask
}

// Phase returns the tags of phase n (0, 1, ...) of a composite algorithm.
func (t Tag) Phase(n int) Tag {
	t.off += n * phaseSpan
	return t
}

// RoundOf recovers the round (including the phase offset) from a tag.
func RoundOf(tag int) int { return tag & roundMask }

// SeqOf recovers the low bits of the call's sequence number from a tag.
func SeqOf(tag int) uint32 { return uint32(tag>>roundBits) & seqMask }
