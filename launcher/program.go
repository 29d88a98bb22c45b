package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUsage is wrapped by every error of Run that comes from the job's
// description (flags, program, parameters) rather than from running it;
// nothing was started.
var ErrUsage = errors.New("usage")

// usageError is an error in the job's description; it matches ErrUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErr(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// resolveProgram turns PROGRAM into the absolute path of an executable:
// a Go package directory is built first (into buildDir, keyed by the
// package's absolute path; Go's build cache makes rebuilding an unchanged
// package quick); a name without a slash is looked up on PATH, as a shell
// would.
func resolveProgram(prog, buildDir string) (string, error) {
	if prog == "" {
		return "", usageErr("no program given")
	}
	st, err := os.Stat(prog)
	switch {
	case err == nil && st.IsDir():
		return buildPackage(prog, buildDir)
	case err == nil && strings.Contains(prog, "/"):
		if st.Mode()&0o111 == 0 {
			return "", usageErr("program %s is not executable", prog)
		}
		return filepath.Abs(prog)
	case strings.Contains(prog, "/"):
		return "", usageErr("program %s: no such file or directory", prog)
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", usageErr("program %s not found in PATH (give a path, or a Go package directory)", prog)
	}
	return filepath.Abs(path)
}

// buildPackage runs `go build` on the package in dir.
func buildPackage(dir, buildDir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if buildDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("building %s: no cache directory: %w", dir, err)
		}
		buildDir = filepath.Join(cache, "mpx", "build")
	}
	sum := sha256.Sum256([]byte(abs))
	outDir := filepath.Join(buildDir, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("building %s: %w", dir, err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", usageErr("program %s is a directory, but the go command needed to build it is not in PATH", dir)
	}
	name := filepath.Base(abs)
	if name == "/" || name == "." {
		name = "prog"
	}
	out := filepath.Join(outDir, name)
	// Built beside the target and renamed over it: another job may be
	// running the old binary (Linux refuses to rewrite a running
	// executable), and must keep it.
	tmp, err := os.CreateTemp(outDir, name+".building-*")
	if err != nil {
		return "", fmt.Errorf("building %s: %w", dir, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command(goTool, "build", "-o", tmp.Name(), ".")
	cmd.Dir = abs
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return "", usageErr("building Go package %s: %v\n%s", dir, err, strings.TrimSpace(msg.String()))
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("building %s: %w", dir, err)
	}
	return out, nil
}
