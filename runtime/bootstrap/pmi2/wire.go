package pmi2

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The PMI-2 wire format (MPICH's simple PMI-2, as served by Slurm's mpi/pmi2
// plugin and Hydra): every command is a 6-byte decimal length, padded with
// spaces, followed by that many bytes of "cmd=NAME;key=value;...;". A ';'
// inside a value is doubled. Before the first command the client sends one
// PMI-1 line, "cmd=init pmi_version=2 pmi_subversion=0\n", and reads
// "cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0\n".

const (
	lenField = 6         // bytes of the length prefix
	maxBody  = 64 * 1024 // PMII_MAX_COMMAND_LEN
	maxKey   = 64        // PMI2_MAX_KEYLEN
	maxValue = 1024      // PMI2_MAX_VALLEN
	maxLine  = 1024      // PMIU_MAXLINE, for the PMI-1 init exchange
)

// ErrProtocol is wrapped by errors about bytes from the process manager
// that are not PMI-2.
var ErrProtocol = errors.New("pmi2: malformed message from the process manager")

// Pair is one key=value of a command; order matters to PMI-2 (spawn lists
// repeat keys), so commands keep a slice rather than a map.
type Pair struct{ Key, Value string }

// Command is one decoded PMI-2 command or response.
type Command struct {
	Name  string // the value of cmd=
	Pairs []Pair
}

// Get returns the value of the first pair named key.
func (c *Command) Get(key string) (string, bool) {
	for _, p := range c.Pairs {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// encode renders a command with its length prefix.
func encode(name string, pairs ...Pair) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, ";") {
		return nil, fmt.Errorf("pmi2: command name %q must be non-empty without ';'", name)
	}
	var b strings.Builder
	b.WriteString("cmd=")
	b.WriteString(name)
	b.WriteByte(';')
	for _, p := range pairs {
		if p.Key == "" || len(p.Key) > maxKey || strings.ContainsAny(p.Key, "=;") {
			return nil, fmt.Errorf("pmi2: %s: key %q must be 1 to %d bytes without '=' or ';'", name, p.Key, maxKey)
		}
		if len(p.Value) > maxValue {
			return nil, fmt.Errorf("pmi2: %s: value of %s is %d bytes, the limit is %d", name, p.Key, len(p.Value), maxValue)
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(p.Value, ";", ";;"))
		b.WriteByte(';')
	}
	body := b.String()
	if len(body) > maxBody {
		return nil, fmt.Errorf("pmi2: %s: command of %d bytes exceeds %d", name, len(body), maxBody)
	}
	return []byte(fmt.Sprintf("%-6d%s", len(body), body)), nil
}

// readCommand reads one length-prefixed command.
func readCommand(r io.Reader) (*Command, error) {
	var head [lenField]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(head[:])))
	if err != nil || n < 0 || n > maxBody {
		return nil, fmt.Errorf("%w: length field %q", ErrProtocol, head[:])
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: command cut short after its length field: %v", ErrProtocol, err)
	}
	return parseBody(body)
}

// parseBody splits "cmd=NAME;k=v;...;" into a Command. The final ';' may be
// missing (some servers omit it).
func parseBody(body []byte) (*Command, error) {
	var pairs []Pair
	s := string(body)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: %q: want key=value", ErrProtocol, truncate(s))
		}
		key := s[:eq]
		if strings.IndexByte(key, ';') >= 0 {
			return nil, fmt.Errorf("%w: %q: key holds ';'", ErrProtocol, truncate(key))
		}
		s = s[eq+1:]
		var val strings.Builder
		for {
			i := strings.IndexByte(s, ';')
			if i < 0 {
				val.WriteString(s)
				s = ""
				break
			}
			val.WriteString(s[:i])
			if i+1 < len(s) && s[i+1] == ';' { // escaped ';'
				val.WriteByte(';')
				s = s[i+2:]
				continue
			}
			s = s[i+1:]
			break
		}
		pairs = append(pairs, Pair{key, val.String()})
	}
	if len(pairs) == 0 || pairs[0].Key != "cmd" || pairs[0].Value == "" {
		return nil, fmt.Errorf("%w: %q does not start with cmd=", ErrProtocol, truncate(string(body)))
	}
	if strings.IndexByte(pairs[0].Value, ';') >= 0 {
		return nil, fmt.Errorf("%w: command name %q holds ';'", ErrProtocol, truncate(pairs[0].Value))
	}
	return &Command{Name: pairs[0].Value, Pairs: pairs[1:]}, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// initLine is the PMI-1 handshake that starts a PMI-2 session. Slurm reads
// it with one read(2) of at most 64 bytes, so it must go out in one write.
const initLine = "cmd=init pmi_version=2 pmi_subversion=0\n"

// readInitResponse reads the PMI-1 response line to initLine and checks it
// accepts version 2.0.
func readInitResponse(r *bufio.Reader) error {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: connection closed during the init handshake", ErrProtocol)
			}
			return err
		}
		if b == '\n' {
			break
		}
		if len(line) >= maxLine {
			return fmt.Errorf("%w: init response longer than %d bytes", ErrProtocol, maxLine)
		}
		line = append(line, b)
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(string(line)) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	if kv["cmd"] != "response_to_init" {
		return fmt.Errorf("%w: init answered with %q", ErrProtocol, truncate(string(line)))
	}
	if kv["rc"] != "0" {
		return fmt.Errorf("pmi2: the process manager refused PMI version 2.0 (rc=%s, it offers %s.%s)", kv["rc"], kv["pmi_version"], kv["pmi_subversion"])
	}
	return nil
}
