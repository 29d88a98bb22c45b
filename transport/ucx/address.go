package ucx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A business card is "ucx1:<rank>:<host>:<challenge>:<worker address>":
// the rank, 8 bytes in hex naming the host (so that a peer knows whether
// shared memory can reach it), 16 random bytes in hex that a connecting
// peer's hello must answer, and the UCP worker address
// (ucp_worker_get_address) in unpadded base64url.

const (
	cardPrefix   = "ucx1:"
	challengeLen = 16
	hostLen      = 8
	// maxWorkerAddr bounds a worker address: a few hundred bytes per
	// device, and no machine has hundreds of devices.
	maxWorkerAddr = 64 << 10
)

// Addr is a parsed business card.
type Addr struct {
	Rank      int
	Host      [hostLen]byte
	Challenge [challengeLen]byte
	Worker    []byte
}

func (a Addr) String() string {
	return cardPrefix + strconv.Itoa(a.Rank) + ":" + hex.EncodeToString(a.Host[:]) + ":" + hex.EncodeToString(a.Challenge[:]) + ":" +
		base64.RawURLEncoding.EncodeToString(a.Worker)
}

// ParseAddr reads a business card written by Addr.String.
func ParseAddr(s string) (Addr, error) {
	var a Addr
	rest, ok := strings.CutPrefix(s, cardPrefix)
	if !ok {
		return a, fmt.Errorf("ucx address %.40q: want prefix %q", s, cardPrefix)
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 4 {
		return a, fmt.Errorf("ucx address %.40q: want ucx1:rank:host:challenge:worker", s)
	}
	r, err := strconv.Atoi(parts[0])
	if err != nil || r < 0 || r > 1<<30 {
		return a, fmt.Errorf("ucx address %.40q: bad rank %q", s, parts[0])
	}
	a.Rank = r
	if h, err := hex.DecodeString(parts[1]); err != nil || len(h) != hostLen {
		return a, fmt.Errorf("ucx address %.40q: host must be %d hex bytes", s, hostLen)
	} else {
		copy(a.Host[:], h)
	}
	parts = parts[1:]
	if c, err := hex.DecodeString(parts[1]); err != nil || len(c) != challengeLen {
		return a, fmt.Errorf("ucx address %.40q: challenge must be %d hex bytes", s, challengeLen)
	} else {
		copy(a.Challenge[:], c)
	}
	if len(parts[2]) > base64.RawURLEncoding.EncodedLen(maxWorkerAddr) {
		return a, fmt.Errorf("ucx address: worker address of %d characters exceeds %d bytes", len(parts[2]), maxWorkerAddr)
	}
	if a.Worker, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return a, fmt.Errorf("ucx address %.40q: worker address: %w", s, err)
	}
	if len(a.Worker) == 0 {
		return a, fmt.Errorf("ucx address %.40q: empty worker address", s)
	}
	return a, nil
}

// helloLen is a hello's payload: source rank, destination rank, the
// destination's challenge, the source's challenge, the proof.
const helloLen = 4 + 4 + challengeLen + challengeLen + sha256.Size

// hello is what a connecting rank says first.
type hello struct {
	src, dst     int
	dstChallenge [challengeLen]byte
	srcChallenge [challengeLen]byte
	proof        [sha256.Size]byte
}

// proofOf is HMAC-SHA256 under the job secret of both ranks and both
// challenges: only a member of the job knows the secret, and only the
// wire-up service hands out the destination's fresh challenge.
func proofOf(secret []byte, src, dst int, dstC, srcC [challengeLen]byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, secret)
	var b [8]byte
	m.Write([]byte("mpx-ucx-hello"))
	binary.LittleEndian.PutUint32(b[0:], uint32(src))
	binary.LittleEndian.PutUint32(b[4:], uint32(dst))
	m.Write(b[:])
	m.Write(dstC[:])
	m.Write(srcC[:])
	var out [sha256.Size]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (h *hello) encode() []byte {
	b := make([]byte, helloLen)
	binary.LittleEndian.PutUint32(b[0:], uint32(h.src))
	binary.LittleEndian.PutUint32(b[4:], uint32(h.dst))
	copy(b[8:], h.dstChallenge[:])
	copy(b[8+challengeLen:], h.srcChallenge[:])
	copy(b[8+2*challengeLen:], h.proof[:])
	return b
}

func decodeHello(b []byte) (hello, error) {
	var h hello
	if len(b) != helloLen {
		return h, fmt.Errorf("hello of %d bytes, want %d", len(b), helloLen)
	}
	h.src = int(int32(binary.LittleEndian.Uint32(b[0:])))
	h.dst = int(int32(binary.LittleEndian.Uint32(b[4:])))
	if h.src < 0 || h.dst < 0 {
		return h, fmt.Errorf("hello names ranks %d -> %d", h.src, h.dst)
	}
	copy(h.dstChallenge[:], b[8:])
	copy(h.srcChallenge[:], b[8+challengeLen:])
	copy(h.proof[:], b[8+2*challengeLen:])
	return h, nil
}

// A SingleCopy descriptor: registration id, address and length of the
// exposed buffer, then the packed remote key.
const descHdr = 24

type desc struct {
	id   uint64
	addr uint64
	n    uint64
	rkey []byte
}

func (d desc) encode() []byte {
	b := make([]byte, descHdr+len(d.rkey))
	binary.LittleEndian.PutUint64(b[0:], d.id)
	binary.LittleEndian.PutUint64(b[8:], d.addr)
	binary.LittleEndian.PutUint64(b[16:], d.n)
	copy(b[descHdr:], d.rkey)
	return b
}

// maxRkey bounds a packed remote key (tens to hundreds of bytes in
// practice).
const maxRkey = 16 << 10

func decodeDesc(b []byte) (desc, error) {
	var d desc
	if len(b) < descHdr {
		return d, fmt.Errorf("ucx: single-copy descriptor of %d bytes, want at least %d", len(b), descHdr)
	}
	d.id = binary.LittleEndian.Uint64(b[0:])
	d.addr = binary.LittleEndian.Uint64(b[8:])
	d.n = binary.LittleEndian.Uint64(b[16:])
	d.rkey = b[descHdr:]
	switch {
	case d.n > 0 && (d.addr == 0 || len(d.rkey) == 0):
		return d, errors.New("ucx: single-copy descriptor of a non-empty buffer without address or key")
	case d.addr+d.n < d.addr:
		return d, fmt.Errorf("ucx: single-copy descriptor range %#x+%d wraps", d.addr, d.n)
	case len(d.rkey) > maxRkey:
		return d, fmt.Errorf("ucx: single-copy descriptor key of %d bytes exceeds %d", len(d.rkey), maxRkey)
	}
	return d, nil
}

// parseLanes picks the transport/device of each lane out of
// ucp_ep_print_info's report ("lane[0]:  2:tcp/lo.0 md[1] ...").
func parseLanes(s string) string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		_, rest, ok := strings.Cut(line, "lane[")
		if !ok {
			continue
		}
		_, rest, ok = strings.Cut(rest, "]:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		_, tl, _ := strings.Cut(f[0], ":")
		if i := strings.LastIndexByte(tl, '.'); i > strings.IndexByte(tl, '/') {
			tl = tl[:i] // "lo.0": the device, without UCX's path index
		}
		if tl != "" && !seen[tl] {
			seen[tl] = true
			out = append(out, tl)
		}
	}
	return strings.Join(out, " ")
}
