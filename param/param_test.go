package param

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testInt  = NewInt("test_int", 7, "an int for tests")
	testSize = NewSize("test_size", 64<<10, "a size for tests")
	testDur  = NewDuration("test_duration", 50*time.Microsecond, "a duration for tests")
	testBool = NewBool("test_bool", false, "a bool for tests")
	testStr  = NewString("test_string", "auto", "a string for tests")
	testEnum = NewEnum("test_enum", "adaptive", []string{"adaptive", "spin", "block"}, "an enum for tests")
)

// reset forgets the tuning file so the next lookup reads MPX_TUNE_FILE again.
func reset() {
	mu.Lock()
	fileVals, fileErr = nil, nil
	mu.Unlock()
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tune")
	os.WriteFile(file, []byte("# tuning\ntest_int = 9\n\ntest_size=1m # comment\n"), 0o644)
	t.Setenv(TuneFileEnv, file)
	reset()
	defer reset()
	if got := testInt.Get(); got != 9 {
		t.Fatalf("from file: %d, want 9", got)
	}
	if got := testSize.Get(); got != 1<<20 {
		t.Fatalf("size from file: %d, want 1 MiB", got)
	}
	t.Setenv(EnvName("test_int"), "11")
	if got := testInt.Get(); got != 11 {
		t.Fatalf("env over file: %d, want 11", got)
	}
	if err := Set("test_int", "13"); err != nil {
		t.Fatal(err)
	}
	defer Unset("test_int")
	if got := testInt.Get(); got != 13 {
		t.Fatalf("Set over env: %d, want 13", got)
	}
	var info Info
	for _, in := range All() {
		if in.Name == "test_int" {
			info = in
		}
	}
	if info.Value != "13" || info.Source != "set" || info.Default != "7" || info.Help != "an int for tests" {
		t.Fatalf("All: %+v", info)
	}
	Unset("test_int")
	if got := testInt.Get(); got != 11 {
		t.Fatalf("after Unset: %d, want the env's 11", got)
	}
}

func TestDefaults(t *testing.T) {
	reset()
	if testInt.Get() != 7 || testSize.Get() != 64<<10 || testDur.Get() != 50*time.Microsecond ||
		testBool.Get() || testStr.Get() != "auto" || testEnum.Get() != "adaptive" {
		t.Fatal("defaults not returned")
	}
	for _, p := range []string{testInt.Name(), testSize.Name(), testDur.Name(), testBool.Name(), testStr.Name(), testEnum.Name()} {
		if !strings.HasPrefix(p, "test_") {
			t.Fatalf("Name() = %q", p)
		}
	}
}

func TestSetRejects(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"no_such_param", "1", "unknown parameter"},
		{"test_int", "seven", "test_int"},
		{"test_size", "-4k", "not a size"},
		{"test_duration", "5 parsecs", "test_duration"},
		{"test_bool", "maybe", "test_bool"},
		{"test_enum", "sometimes", "want one of adaptive, spin, block"},
	} {
		err := Set(tc.name, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%s, %s) = %v, want an error containing %q", tc.name, tc.value, err, tc.want)
		}
	}
}

func TestBadValuesFallBackAndCheckReports(t *testing.T) {
	reset()
	t.Setenv(EnvName("test_enum"), "sometimes")
	if got := testEnum.Get(); got != "adaptive" {
		t.Fatalf("bad enum from env: %q, want the default", got)
	}
	if err := Check(); err == nil || !strings.Contains(err.Error(), "MPX_PARAM_TEST_ENUM") {
		t.Fatalf("Check with a bad env value: %v", err)
	}
	os.Unsetenv(EnvName("test_enum"))
	t.Setenv("MPX_PARAM_NO_SUCH_KNOB", "1")
	if err := Check(); err == nil || !strings.Contains(err.Error(), "MPX_PARAM_NO_SUCH_KNOB names no parameter") {
		t.Fatalf("Check with an unknown env name: %v", err)
	}
}

func TestTuneFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{"test_int 5\n", "line 1: want name = value"},
		{"# ok\nunknown_knob = 1\n", `unknown parameter "unknown_knob"`},
		{"test_size = lots\n", "test_size"},
	} {
		file := filepath.Join(dir, "tune")
		os.WriteFile(file, []byte(tc.body), 0o644)
		t.Setenv(TuneFileEnv, file)
		reset()
		if err := Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tuning file %q: Check = %v, want %q", tc.body, err, tc.want)
		}
	}
	t.Setenv(TuneFileEnv, filepath.Join(dir, "missing"))
	reset()
	if err := Check(); err == nil || !strings.Contains(err.Error(), "tuning file") {
		t.Errorf("missing tuning file: %v", err)
	}
	reset()
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"4096", 4096, true}, {"64k", 64 << 10, true}, {"64K", 64 << 10, true}, {"1m", 1 << 20, true},
		{"2g", 2 << 30, true}, {"8KiB", 8 << 10, true}, {"3mb", 3 << 20, true}, {" 5 ", 5, true},
		{"", 0, false}, {"k", 0, false}, {"-1", 0, false}, {"1.5m", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   int
		want string
	}{{0, "0"}, {100, "100"}, {64 << 10, "64k"}, {3 << 20, "3m"}, {1 << 30, "1g"}, {1536, "1536"}} {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{"transport=tcp", "transport", "tcp"},
		{" wait_mode = spin ", "wait_mode", "spin"},
		{"x=a=b", "x", "a=b"},
	} {
		n, v, err := Parse(tc.in)
		if err != nil || n != tc.name || v != tc.value {
			t.Errorf("Parse(%q) = %q %q %v", tc.in, n, v, err)
		}
	}
	for _, bad := range []string{"transport", "=tcp", ""} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("coll.allreduce-algorithm"); got != "MPX_PARAM_COLL_ALLREDUCE_ALGORITHM" {
		t.Fatal(got)
	}
}

func FuzzReadTuneFile(f *testing.F) {
	f.Add([]byte("# tuning\ntest_int = 9\n\ntest_size=1m # comment\n"))
	f.Add([]byte("bad line\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		file := filepath.Join(t.TempDir(), "tune")
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
		vals, err := readTuneFile(file)
		if err != nil {
			return
		}
		for k := range vals {
			if strings.ContainsAny(k, "=#\n") {
				t.Fatalf("key %q kept a separator", k)
			}
		}
	})
}

// A scope the tests' process owns (it registers a parameter of it) and one
// it does not, like the launcher's in a rank.
var ownedKnob = NewInt("ownedscope_knob", 1, "a parameter of a scope this process owns")

func init() { scopes = append(scopes, "ownedscope_", "otherscope_") }

// TestScopes: a name of a scope this process registered nothing of is left
// to its owner (a rank given a launcher parameter), by environment and by
// tuning file; a name of an owned scope, or of none, must exist, and a
// near miss is suggested.
func TestScopes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, env, file string
		want            string // "" for no error
	}{
		{"launcher env", "MPX_PARAM_LAUNCHER_REPORT_WAIT=2s", "", ""},
		{"launcher file", "", "launcher_report_wait = 2s\n", ""},
		{"other scope env", "MPX_PARAM_OTHERSCOPE_ANYTHING=x", "", ""},
		{"other scope file", "", "otherscope_anything = x\n", ""},
		{"owned scope env typo", "MPX_PARAM_OWNEDSCOPE_KNOBB=1", "",
			"environment variable MPX_PARAM_OWNEDSCOPE_KNOBB names no parameter (did you mean MPX_PARAM_OWNEDSCOPE_KNOB?) (see `mpx info`)"},
		{"owned scope file typo", "", "ownedscope_knobb = 1\n", `tuning file: unknown parameter "ownedscope_knobb" (did you mean ownedscope_knob?)`},
		{"owned scope bad value", "MPX_PARAM_OWNEDSCOPE_KNOB=one", "", `MPX_PARAM_OWNEDSCOPE_KNOB="one"`},
		{"unscoped env typo", "MPX_PARAM_TEST_INTT=1", "",
			"environment variable MPX_PARAM_TEST_INTT names no parameter (did you mean MPX_PARAM_TEST_INT?) (see `mpx info`)"},
		{"unscoped file typo", "", "tset_int = 1\n", `tuning file: unknown parameter "tset_int" (did you mean test_int?)`},
		{"nothing close", "MPX_PARAM_NO_SUCH_KNOB=1", "", "environment variable MPX_PARAM_NO_SUCH_KNOB names no parameter (see `mpx info`)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
			}
			file := ""
			if tc.file != "" {
				file = filepath.Join(dir, "tune")
				if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(TuneFileEnv, file)
			reset()
			defer reset()
			err := Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
	if got := ownedKnob.Get(); got != 1 {
		t.Errorf("ownedscope_knob = %d, want its default 1", got)
	}
}

func TestSetSuggests(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"test_intt", `unknown parameter "test_intt" (did you mean test_int?) (see`},
		{"launcher_report_wait", `unknown parameter "launcher_report_wait" (see`}, // not registered here: Set refuses it
		{"zzz", `unknown parameter "zzz" (see`},
	} {
		if err := Set(tc.name, "1"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%s) = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"test_int", "tset_int", 2}, {"same", "same", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
