package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// shmDir is where POSIX shared memory lives on Linux; segments are plain
// files there, which is what lets the launcher remove a dead job's leftovers.
const shmDir = "/dev/shm"

// segmentPrefix opens every segment name: mpx-<jobid>-<rank>.
const segmentPrefix = "mpx-"

// SegmentName is the /dev/shm file name of rank's inbound segment in job.
func SegmentName(jobID string, rank int) string {
	return segmentPrefix + jobID + "-" + strconv.Itoa(rank)
}

// checkJobID rejects ids that would make a segment name ambiguous or escape
// /dev/shm, since the name is also what RemoveJob globs on.
func checkJobID(id string) error {
	if id == "" {
		return errors.New("shm: job id is empty")
	}
	if len(id) > 128 {
		return fmt.Errorf("shm: job id of %d bytes is longer than 128", len(id))
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_'
		if !ok {
			return fmt.Errorf("shm: job id %q: only letters, digits, '.' and '_' are allowed", id)
		}
	}
	return nil
}

// Addr is a parsed business card: the peer's segment name and its pid (for
// cross-memory attach and for noticing that it died).
type Addr struct {
	Segment string
	Pid     int
}

func (a Addr) String() string { return a.Segment + "@" + strconv.Itoa(a.Pid) }

// ParseAddr reads a business card written by Transport.Address:
// "mpx-<jobid>-<rank>@<pid>".
func ParseAddr(s string) (Addr, error) {
	name, pidStr, ok := strings.Cut(s, "@")
	if !ok {
		return Addr{}, fmt.Errorf("shm address %q: want segment@pid", s)
	}
	if !strings.HasPrefix(name, segmentPrefix) || strings.ContainsAny(name, "/\x00") || len(name) > 255 {
		return Addr{}, fmt.Errorf("shm address %q: segment name must start with %q and contain no '/'", s, segmentPrefix)
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 || pid > 1<<22 {
		return Addr{}, fmt.Errorf("shm address %q: bad pid %q", s, pidStr)
	}
	return Addr{Segment: name, Pid: pid}, nil
}

// RemoveJob deletes every segment of job left under /dev/shm. It is the
// launcher's backstop for ranks killed before they sealed their segments;
// it returns the number of files removed.
func RemoveJob(jobID string) (int, error) {
	if err := checkJobID(jobID); err != nil {
		return 0, err
	}
	names, err := filepath.Glob(filepath.Join(shmDir, segmentPrefix+jobID+"-*"))
	if err != nil {
		return 0, fmt.Errorf("shm: listing job %s segments: %w", jobID, err)
	}
	n := 0
	var first error
	for _, p := range names {
		// The glob also matches job "a" for job "a-1"'s files only if the id
		// could contain '-', which checkJobID forbids; still insist that the
		// suffix is a rank.
		if _, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), segmentPrefix+jobID+"-")); err != nil {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			if first == nil {
				first = fmt.Errorf("shm: removing %s: %w", p, err)
			}
			continue
		}
		n++
	}
	return n, first
}

// descSize is the length of a SingleCopy descriptor: pid, address, length.
const descSize = 24

// desc is what Expose hands to the peer: where to read with
// process_vm_readv.
type desc struct {
	pid  int
	addr uint64
	n    uint64
}

func (d desc) encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], uint64(d.pid))
	binary.LittleEndian.PutUint64(b[8:], d.addr)
	binary.LittleEndian.PutUint64(b[16:], d.n)
}

// decodeDesc reads a descriptor received from a peer.
func decodeDesc(b []byte) (desc, error) {
	if len(b) != descSize {
		return desc{}, fmt.Errorf("shm: single-copy descriptor of %d bytes, want %d", len(b), descSize)
	}
	d := desc{
		pid:  int(binary.LittleEndian.Uint64(b[0:])),
		addr: binary.LittleEndian.Uint64(b[8:]),
		n:    binary.LittleEndian.Uint64(b[16:]),
	}
	if d.pid <= 0 || d.pid > 1<<22 {
		return desc{}, fmt.Errorf("shm: single-copy descriptor names pid %d", d.pid)
	}
	if d.addr == 0 && d.n > 0 || d.addr+d.n < d.addr {
		return desc{}, fmt.Errorf("shm: single-copy descriptor range %#x+%d is invalid", d.addr, d.n)
	}
	return d, nil
}
