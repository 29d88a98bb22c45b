// Package param is the one registry of mpx's tunable parameters.
//
// Every knob has one name, a default, a one-line description and a type. A
// value comes, in order of precedence, from Set (the process itself, e.g.
// `mpx bench --param`), the environment variable MPX_PARAM_<NAME> (what
// `mpx run --param name=value` sets for every rank), a tuning file named by
// MPX_TUNE_FILE (lines `name = value`, # comments), or the default.
// `mpx info` prints them all through All.
//
// Parameters whose names start with a scope's prefix (launcher_) belong to
// one program, which alone checks their names: see scopes.
//
// It imports only the standard library, so that every layer may use it.
package param

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Info describes one parameter and where its current value came from.
type Info struct {
	Name    string
	Type    string // "int", "size", "duration", "bool", "string", "enum"
	Default string
	Value   string
	Source  string // "default", "env", "file", "set"
	Help    string
	Choices []string // for enums
}

type entry struct {
	info  Info
	env   string // EnvName(info.Name), computed once: Get is on hot paths
	check func(string) error
}

var (
	mu       sync.RWMutex
	registry = map[string]*entry{}
	setVals  = map[string]string{}
	fileVals map[string]string // loaded once, lazily
	fileErr  error
)

// EnvName is the environment variable that carries a parameter's value.
func EnvName(name string) string {
	return "MPX_PARAM_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// scopes are the prefixes of parameter families that one program owns: the
// launcher's (launcher_*) are read by `mpx run` and `mpx agent`, never by
// ranks, although ranks inherit the environment and tuning file that set
// them. A process that registered no parameter of a scope takes a name of
// it as its owner's business; the owner (which has them registered)
// checks the names, so a misspelt launcher_ parameter is still refused,
// by mpx run.
var scopes = []string{"launcher_"}

// foreign says whether name (or, if env, the variable name without its
// MPX_PARAM_ prefix) is in a scope of which this process registered no
// parameter.
func foreign(name string, env bool) bool {
	for _, sc := range scopes {
		prefix := sc
		if env {
			prefix = strings.TrimPrefix(EnvName(sc), "MPX_PARAM_")
		}
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		mu.RLock()
		defer mu.RUnlock()
		for n := range registry {
			if strings.HasPrefix(n, sc) {
				return false
			}
		}
		return true
	}
	return false
}

// suggest is " (did you mean X?)" for the registered parameter closest to
// an unknown name, if one is close enough to be a typo; env compares
// variable names.
func suggest(name string, env bool) string {
	mu.RLock()
	defer mu.RUnlock()
	best, bestD := "", 0
	for n, e := range registry {
		cand := n
		if env {
			cand = e.env
		}
		d := editDistance(name, cand)
		if best == "" || d < bestD || d == bestD && cand < best {
			best, bestD = cand, d
		}
	}
	if best == "" || bestD > 2 || bestD*3 > len(name) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// TuneFileEnv names the environment variable holding the tuning file path.
const TuneFileEnv = "MPX_TUNE_FILE"

func register(name, typ, def, help string, choices []string, check func(string) error) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("param: " + name + " registered twice")
	}
	registry[name] = &entry{info: Info{Name: name, Type: typ, Default: def, Help: help, Choices: choices},
		env: EnvName(name), check: check}
}

// raw returns the textual value of name and its source.
func raw(name string) (string, string) {
	mu.RLock()
	v, ok := setVals[name]
	e := registry[name]
	file := fileVals
	mu.RUnlock()
	if ok {
		return v, "set"
	}
	if v, ok := os.LookupEnv(e.env); ok {
		return v, "env"
	}
	if file == nil {
		file = tuneFile()
	}
	if v, ok := file[name]; ok {
		return v, "file"
	}
	return e.info.Default, "default"
}

func tuneFile() map[string]string {
	mu.Lock()
	defer mu.Unlock()
	if fileVals == nil {
		fileVals, fileErr = readTuneFile(os.Getenv(TuneFileEnv))
	}
	return fileVals
}

func readTuneFile(path string) (map[string]string, error) {
	vals := map[string]string{}
	if path == "" {
		return vals, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return vals, fmt.Errorf("tuning file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return vals, fmt.Errorf("tuning file %s line %d: want name = value, got %q", path, n, line)
		}
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return vals, sc.Err()
}

// Set gives name a value for this process, overriding environment and file.
// It checks that name exists and that the value parses.
func Set(name, value string) error {
	mu.RLock()
	e, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return fmt.Errorf("unknown parameter %q%s (see `mpx info` for the list)", name, suggest(name, false))
	}
	if err := e.check(value); err != nil {
		return fmt.Errorf("parameter %s=%q: %w", name, value, err)
	}
	mu.Lock()
	setVals[name] = value
	mu.Unlock()
	return nil
}

// Unset drops a value given by Set (tests use it to restore defaults).
func Unset(name string) {
	mu.Lock()
	delete(setVals, name)
	mu.Unlock()
}

// Parse splits "name=value" as given to --param.
func Parse(kv string) (name, value string, err error) {
	name, value, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return "", "", fmt.Errorf("--param %q: want name=value", kv)
	}
	return strings.TrimSpace(name), strings.TrimSpace(value), nil
}

// Check validates every value given through the environment or tuning file,
// so that a typo is reported at start-up rather than silently ignored.
func Check() error {
	tuneFile()
	mu.RLock()
	err := fileErr
	mu.RUnlock()
	if err != nil {
		return err
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "MPX_PARAM_") {
			continue
		}
		e := lookupEnvName(k)
		if e == nil && foreign(strings.TrimPrefix(k, "MPX_PARAM_"), true) {
			continue // its owner checks it
		}
		if e == nil {
			return fmt.Errorf("environment variable %s names no parameter%s (see `mpx info`)", k, suggest(k, true))
		}
		if err := e.check(v); err != nil {
			return fmt.Errorf("%s=%q: %w", k, v, err)
		}
	}
	for k, v := range tuneFile() {
		mu.RLock()
		e := registry[k]
		mu.RUnlock()
		if e == nil && foreign(k, false) {
			continue // its owner checks it
		}
		if e == nil {
			return fmt.Errorf("tuning file: unknown parameter %q%s", k, suggest(k, false))
		}
		if err := e.check(v); err != nil {
			return fmt.Errorf("tuning file: %s=%q: %w", k, v, err)
		}
	}
	return nil
}

func lookupEnvName(env string) *entry {
	mu.RLock()
	defer mu.RUnlock()
	for name, e := range registry {
		if EnvName(name) == env {
			return e
		}
	}
	return nil
}

// All lists every registered parameter with its current value, by name.
func All() []Info {
	mu.RLock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	mu.RUnlock()
	sort.Strings(names)
	out := make([]Info, 0, len(names))
	for _, n := range names {
		mu.RLock()
		in := registry[n].info
		mu.RUnlock()
		in.Value, in.Source = raw(n)
		out = append(out, in)
	}
	return out
}

// Int is an integer parameter.
type Int struct{ name string }

// NewInt registers an integer parameter.
func NewInt(name string, def int, help string) Int {
	register(name, "int", strconv.Itoa(def), help, nil, func(s string) error {
		_, err := strconv.Atoi(s)
		return err
	})
	return Int{name}
}

// Get returns the current value; a value that does not parse yields the
// default (Check reports it at start-up).
func (p Int) Get() int {
	v, _ := raw(p.name)
	n, err := strconv.Atoi(v)
	if err != nil {
		n, _ = strconv.Atoi(registry[p.name].info.Default)
	}
	return n
}

// Name is the parameter's name.
func (p Int) Name() string { return p.name }

// Size is a byte-count parameter accepting suffixes k, m, g (powers of 1024).
type Size struct{ name string }

// NewSize registers a size parameter.
func NewSize(name string, def int, help string) Size {
	register(name, "size", FormatSize(def), help, nil, func(s string) error {
		_, err := ParseSize(s)
		return err
	})
	return Size{name}
}

// Get returns the current value in bytes.
func (p Size) Get() int {
	v, _ := raw(p.name)
	n, err := ParseSize(v)
	if err != nil {
		n, _ = ParseSize(registry[p.name].info.Default)
	}
	return n
}

// Name is the parameter's name.
func (p Size) Name() string { return p.name }

// ParseSize reads "4096", "64k", "1m", "2g" (case-insensitive, optional "b"/"ib").
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := 1
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q (want e.g. 4096, 64k, 1m)", s)
	}
	return n * mult, nil
}

// FormatSize writes n the way ParseSize reads it, using the largest exact unit.
func FormatSize(n int) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "g"
	case n != 0 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "m"
	case n != 0 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "k"
	}
	return strconv.Itoa(n)
}

// Duration is a time parameter in Go's syntax ("50us", "2s").
type Duration struct{ name string }

// NewDuration registers a duration parameter.
func NewDuration(name string, def time.Duration, help string) Duration {
	register(name, "duration", def.String(), help, nil, func(s string) error {
		_, err := time.ParseDuration(s)
		return err
	})
	return Duration{name}
}

// Get returns the current value.
func (p Duration) Get() time.Duration {
	v, _ := raw(p.name)
	d, err := time.ParseDuration(v)
	if err != nil {
		d, _ = time.ParseDuration(registry[p.name].info.Default)
	}
	return d
}

// Name is the parameter's name.
func (p Duration) Name() string { return p.name }

// Bool is a boolean parameter.
type Bool struct{ name string }

// NewBool registers a boolean parameter.
func NewBool(name string, def bool, help string) Bool {
	register(name, "bool", strconv.FormatBool(def), help, nil, func(s string) error {
		_, err := strconv.ParseBool(s)
		return err
	})
	return Bool{name}
}

// Get returns the current value.
func (p Bool) Get() bool {
	v, _ := raw(p.name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		b, _ = strconv.ParseBool(registry[p.name].info.Default)
	}
	return b
}

// Name is the parameter's name.
func (p Bool) Name() string { return p.name }

// String is a free-text parameter (an interface name, an address).
type String struct{ name string }

// NewString registers a string parameter.
func NewString(name, def, help string) String {
	register(name, "string", def, help, nil, func(string) error { return nil })
	return String{name}
}

// Get returns the current value.
func (p String) Get() string { v, _ := raw(p.name); return v }

// Name is the parameter's name.
func (p String) Name() string { return p.name }

// Enum is a parameter with a fixed set of values.
type Enum struct{ name string }

// NewEnum registers an enumerated parameter; def must be one of choices.
func NewEnum(name, def string, choices []string, help string) Enum {
	register(name, "enum", def, help, choices, func(s string) error {
		for _, c := range choices {
			if s == c {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(choices, ", "))
	})
	return Enum{name}
}

// Get returns the current value.
func (p Enum) Get() string {
	v, _ := raw(p.name)
	if registry[p.name].check(v) != nil {
		return registry[p.name].info.Default
	}
	return v
}

// Name is the parameter's name.
func (p Enum) Name() string { return p.name }
