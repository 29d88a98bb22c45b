package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Host is one node a job may place ranks on.
type Host struct {
	// Name is the node's host name or address, as the user wrote it.
	Name string
	// Slots is how many ranks the node takes before it counts as
	// oversubscribed; always at least 1.
	Slots int
	// MaxSlots is a hard limit that holds even with --oversubscribe; zero
	// means no limit.
	MaxSlots int
}

// HostfileError locates a problem in a hostfile.
type HostfileError struct {
	File string // the path, or "--host" for the command-line list
	Line int    // 1-based; 0 when the problem is not on one line
	Err  error
}

func (e *HostfileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("hostfile %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("hostfile %s line %d: %v", e.File, e.Line, e.Err)
}

func (e *HostfileError) Unwrap() error { return e.Err }

// maxSlotCount bounds any one slot count, so that a typo such as
// slots=40000000000 is reported rather than turned into a huge allocation.
const maxSlotCount = 1 << 20

// ParseHosts reads the --host / -H list: comma-separated names, each with an
// optional :N slot count ("a:2,b:2"). A name without a count gives one slot,
// and a name repeated adds its slots ("a,a,b" is a:2,b:1), as in Open MPI.
func ParseHosts(spec string) ([]Host, error) {
	var hl hostList
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("--host %q: empty host name in the list", spec)
		}
		name, slots, _, err := splitHostCount(item)
		if err != nil {
			return nil, fmt.Errorf("--host %q: %v", spec, err)
		}
		hl.add(Host{Name: name, Slots: slots}, false)
	}
	return hl.hosts, nil
}

// splitHostCount splits "name" or "name:N" (Hydra's form, also accepted by
// --host). An IPv6 literal must be bracketed: "[fd00::1]:2".
func splitHostCount(item string) (name string, slots int, hasCount bool, err error) {
	name = item
	count := ""
	if strings.HasPrefix(item, "[") {
		end := strings.IndexByte(item, ']')
		if end < 0 {
			return "", 0, false, fmt.Errorf("%q: unclosed '[' in an address", item)
		}
		name = item[1:end]
		rest := item[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, false, fmt.Errorf("%q: want [address]:N", item)
			}
			count, hasCount = rest[1:], true
		}
	} else if i := strings.IndexByte(item, ':'); i >= 0 {
		name, count, hasCount = item[:i], item[i+1:], true
	}
	if err := checkHostName(name); err != nil {
		return "", 0, false, err
	}
	if !hasCount {
		return name, 1, false, nil
	}
	n, err := parseCount(count, 1)
	if err != nil {
		return "", 0, false, fmt.Errorf("%q: slot count %v", item, err)
	}
	return name, n, true, nil
}

// checkHostName rejects names that cannot be a host: empty, or holding
// characters that no host name or address has (which usually means a
// mistyped separator).
func checkHostName(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '-' || r == '_' || r == ':' || r == '%'
		if !ok {
			return fmt.Errorf("host name %q: character %q is not allowed in a host name", name, r)
		}
	}
	return nil
}

// parseCount reads a decimal count of at least min.
func parseCount(s string, min int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > maxSlotCount {
		return 0, fmt.Errorf("%q is not an integer from %d to %d", s, min, maxSlotCount)
	}
	return n, nil
}

// ReadHostfile reads the hostfile at path (see ParseHostfile).
func ReadHostfile(path string) ([]Host, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &HostfileError{File: path, Err: err}
	}
	defer f.Close()
	return ParseHostfile(path, f)
}

// ParseHostfile reads a hostfile in Open MPI's form ("node slots=4
// max_slots=8") or Hydra's ("node:4"); the two may be mixed. '#' starts a
// comment; blank lines are skipped. A node without a count has one slot. A
// node listed twice gets the sum of its slots. name is used in errors,
// which carry the line number.
func ParseHostfile(name string, r io.Reader) ([]Host, error) {
	var hl hostList
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		h, ok, err := parseHostfileLine(sc.Text())
		if err != nil {
			return nil, &HostfileError{File: name, Line: line, Err: err}
		}
		if ok {
			hl.add(h, true)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &HostfileError{File: name, Line: line + 1, Err: err}
	}
	if len(hl.hosts) == 0 {
		return nil, &HostfileError{File: name, Err: errors.New("no hosts listed")}
	}
	return hl.hosts, nil
}

// parseHostfileLine reads one line; ok is false for blank and comment lines.
func parseHostfileLine(text string) (h Host, ok bool, err error) {
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	fields := joinEquals(strings.Fields(text))
	if len(fields) == 0 {
		return Host{}, false, nil
	}
	if strings.Contains(fields[0], "=") {
		return Host{}, false, fmt.Errorf("line starts with %q: want a host name first", fields[0])
	}
	name, slots, hydraCount, err := splitHostCount(fields[0])
	if err != nil {
		return Host{}, false, err
	}
	h = Host{Name: name, Slots: slots}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found {
			return Host{}, false, fmt.Errorf("%q: want key=value after the host name (slots=N, max_slots=N)", f)
		}
		k = strings.ToLower(k)
		if k == "max-slots" {
			k = "max_slots"
		}
		if k == "count" || k == "cpu" {
			k = "slots" // older Open MPI spellings
		}
		if seen[k] {
			return Host{}, false, fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "slots":
			if hydraCount {
				return Host{}, false, fmt.Errorf("%q has both :N and slots=", fields[0])
			}
			if h.Slots, err = parseCount(v, 1); err != nil {
				return Host{}, false, fmt.Errorf("slots=%v", err)
			}
		case "max_slots":
			if h.MaxSlots, err = parseCount(v, 1); err != nil {
				return Host{}, false, fmt.Errorf("max_slots=%v", err)
			}
		default:
			return Host{}, false, fmt.Errorf("unknown key %q (want slots or max_slots)", k)
		}
	}
	if h.MaxSlots != 0 && h.MaxSlots < h.Slots {
		return Host{}, false, fmt.Errorf("max_slots=%d is below slots=%d", h.MaxSlots, h.Slots)
	}
	return h, true, nil
}

// joinEquals turns the tokens "slots", "=", "4" (written with spaces) into
// "slots=4", as Open MPI's hostfile lexer accepts them.
func joinEquals(fields []string) []string {
	out := fields[:0:0]
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		for i+1 < len(fields) && (strings.HasSuffix(f, "=") || strings.HasPrefix(fields[i+1], "=")) {
			f += fields[i+1]
			i++
		}
		out = append(out, f)
	}
	return out
}

// hostList keeps hosts in first-mention order, merging repeats.
type hostList struct {
	hosts []Host
	index map[string]int
}

// add merges h into the list. Slots add up; so do max slots, except that a
// mention without a limit (when limits apply) leaves the host unlimited.
func (l *hostList) add(h Host, limits bool) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	i, ok := l.index[h.Name]
	if !ok {
		l.index[h.Name] = len(l.hosts)
		l.hosts = append(l.hosts, h)
		return
	}
	old := &l.hosts[i]
	old.Slots = min(old.Slots+h.Slots, maxSlotCount)
	if limits && old.MaxSlots != 0 && h.MaxSlots != 0 {
		old.MaxSlots = min(old.MaxSlots+h.MaxSlots, maxSlotCount)
	} else {
		old.MaxSlots = 0
	}
}

// TotalSlots is the sum of the hosts' slots.
func TotalSlots(hosts []Host) int {
	n := 0
	for _, h := range hosts {
		n += h.Slots
	}
	return n
}
