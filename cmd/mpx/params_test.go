package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLauncherParams: a launcher parameter given to `mpx run`, by --param
// or in a tuning file, reaches ranks that check their parameters at Init
// (which register none of the launcher's) without killing them; a
// misspelt one is still refused, with a suggestion.
func TestLauncherParams(t *testing.T) {
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello")
	if out, err := exec.Command("go", "build", "-o", hello, "../../examples/hello").CombinedOutput(); err != nil {
		t.Fatalf("building examples/hello: %v\n%s", err, out)
	}
	tune := func(body string) string {
		p := filepath.Join(t.TempDir(), "tune")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		tuneFile string
		params   []string
		code     int
		stderr   string // for a failure: what stderr must say
	}{
		{"--param", "", []string{"--param", "launcher_report_wait=2s"}, 0, ""},
		{"two launcher params", "", []string{"--param", "launcher_report_wait=2s", "--param", "launcher_kill_grace=1s"}, 0, ""},
		{"tuning file", tune("# for mpx run\nlauncher_report_wait = 2s\n"), nil, 0, ""},
		{"misspelt --param", "", []string{"--param", "launcher_reprot_wait=2s"}, 2,
			`unknown parameter "launcher_reprot_wait" (did you mean launcher_report_wait?)`},
		{"misspelt in tuning file", tune("launcher_reprot_wait = 2s\n"), nil, 2,
			`tuning file: unknown parameter "launcher_reprot_wait" (did you mean launcher_report_wait?)`},
		{"bad value", "", []string{"--param", "launcher_report_wait=soon"}, 2, `launcher_report_wait="soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MPX_TUNE_FILE", tc.tuneFile)
			args := append([]string{"run", "-n", "2", "--oversubscribe"}, tc.params...)
			code, stdout, stderr := runMpx(t, append(args, hello)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.code == 0 && strings.Count(stdout, "hello from rank") != 2 {
				t.Errorf("stdout lacks both ranks' hello:\n%s", stdout)
			}
			if tc.code != 0 && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}
