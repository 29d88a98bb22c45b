package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// osuSource is the C port of the tests, built with the MPI's own mpicc.
//
//go:embed mpi/osu_mpx.c
var osuSource []byte

// MPI is an installed MPI implementation.
type MPI struct {
	CC, Launcher string // paths of mpicc and mpirun
	// Name is the family: "Open MPI", "MPICH" or "MPI" when unknown.
	Name string
	// Version is the first line of `mpirun --version`.
	Version string
	// Major is the major version number (Open MPI 5 renamed vader to sm).
	Major int
}

// FindMPI locates mpicc and mpirun (on PATH when the arguments are empty)
// and asks mpirun its version.
func FindMPI(ctx context.Context, mpicc, mpirun string) (*MPI, error) {
	if mpicc == "" {
		mpicc = "mpicc"
	}
	if mpirun == "" {
		mpirun = "mpirun"
	}
	cc, err := exec.LookPath(mpicc)
	if err != nil {
		return nil, fmt.Errorf("no MPI compiler %q: %w (install Open MPI, e.g. apt-get install openmpi-bin libopenmpi-dev, or give --mpicc)", mpicc, err)
	}
	run, err := exec.LookPath(mpirun)
	if err != nil {
		return nil, fmt.Errorf("no MPI launcher %q: %w (install openmpi-bin or give --mpirun)", mpirun, err)
	}
	out, err := exec.CommandContext(ctx, run, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w: %s", run, err, bytes.TrimSpace(out))
	}
	m := &MPI{CC: cc, Launcher: run}
	m.Name, m.Version, m.Major = identifyMPI(string(out))
	return m, nil
}

var versionRE = regexp.MustCompile(`(\d+)\.\d+(\.\d+)?`)

// identifyMPI reads `mpirun --version` output: Open MPI prints
// "mpirun (Open MPI) 4.1.4", MPICH's Hydra "HYDRA build details: Version: 4.0".
func identifyMPI(out string) (name, version string, major int) {
	first := strings.TrimSpace(out)
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = strings.TrimSpace(first[:i])
	}
	switch {
	case strings.Contains(out, "Open MPI") || strings.Contains(out, "OpenRTE"):
		name = "Open MPI"
	case strings.Contains(out, "HYDRA") || strings.Contains(out, "MPICH"):
		name = "MPICH"
	default:
		name = "MPI"
	}
	version = first
	if name == "MPICH" {
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "Version" {
				version = "MPICH " + strings.TrimSpace(v)
				break
			}
		}
	}
	if m := versionRE.FindStringSubmatch(version); m != nil {
		major, _ = strconv.Atoi(m[1])
	}
	return name, version, major
}

// Build compiles the C port with mpicc into cacheDir, once per source and
// MPI: the file name carries a hash of both.
func (m *MPI) Build(ctx context.Context, cacheDir string) (string, error) {
	h := sha256.New()
	h.Write(osuSource)
	fmt.Fprintf(h, "\x00%s\x00%s", m.CC, m.Version)
	exe := filepath.Join(cacheDir, "osu_mpx-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("benchmark cache: %w", err)
	}
	dir, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return "", fmt.Errorf("benchmark cache: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "osu_mpx.c")
	if err := os.WriteFile(src, osuSource, 0o644); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "osu_mpx")
	out, err := exec.CommandContext(ctx, m.CC, "-O2", "-o", tmp, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -O2 %s: %w\n%s", m.CC, src, err, out)
	}
	// Rename is atomic: a concurrent build finds a whole file or none.
	if err := os.Rename(tmp, exe); err != nil {
		return "", fmt.Errorf("benchmark cache: %w", err)
	}
	return exe, nil
}

// CacheDir is where built benchmarks are kept: $XDG_CACHE_HOME/mpx/bench
// or its platform equivalent.
func CacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the built MPI benchmark: %w", err)
	}
	return filepath.Join(d, "mpx", "bench"), nil
}

// Args are the C port's arguments for t with options o.
func Args(t *Test, o Options) []string {
	return []string{t.Name,
		"-m", fmt.Sprintf("%d:%d", o.MinSize, o.MaxSize),
		"-i", fmt.Sprintf("%d:%d", o.Iters, o.ItersLarge),
		"-x", fmt.Sprintf("%d:%d", o.Warmup, o.WarmupLarge),
		"-L", strconv.Itoa(o.LargeSize),
		"-W", strconv.Itoa(o.Window),
	}
}

// Command is the mpirun command line that runs exe for t on n local ranks
// over transport ("shm" or "tcp"): Open MPI is told its byte transfer
// layers (vader/sm or tcp on loopback, through ob1 so that UCX does not take
// over), MPICH to keep local ranks off shared memory for tcp. Ranks are not
// bound to cores, as mpx does not bind them unless asked.
func (m *MPI) Command(ctx context.Context, exe string, t *Test, n int, transport string, o Options) (*exec.Cmd, error) {
	if transport != "shm" && transport != "tcp" {
		return nil, fmt.Errorf("compare over transport %q: want shm or tcp", transport)
	}
	var args []string
	env := os.Environ()
	switch m.Name {
	case "Open MPI":
		shm := "vader"
		if m.Major >= 5 {
			shm = "sm"
		}
		btl := "self," + shm
		if transport == "tcp" {
			btl = "self,tcp"
		}
		args = append(args, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
			"--mca", "pml", "ob1", "--mca", "btl", btl)
		if transport == "tcp" {
			args = append(args, "--mca", "btl_tcp_if_include", "lo")
		}
		env = append(env, "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	case "MPICH":
		if transport == "tcp" {
			env = append(env, "MPIR_CVAR_CH3_NOLOCAL=1", "MPIR_CVAR_NOLOCAL=1")
		}
	}
	args = append(args, "-n", strconv.Itoa(n), exe)
	args = append(args, Args(t, o)...)
	cmd := exec.CommandContext(ctx, m.Launcher, args...)
	cmd.Env = env
	return cmd, nil
}

// Run runs the C port once and parses its table.
func (m *MPI) Run(ctx context.Context, exe string, t *Test, n int, transport string, o Options) (*Result, error) {
	cmd, err := m.Command(ctx, exe, t, n, transport, o)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.String(), 2000))
	}
	r, err := ParseOSU(&stdout)
	if err != nil {
		return nil, fmt.Errorf("output of %s: %w", exe, err)
	}
	if r.Test != t.Name {
		return nil, fmt.Errorf("output of %s: measured %s, asked for %s", exe, r.Test, t.Name)
	}
	r.Impl = m.Name
	r.Opts = o
	r.Meta.Command = cmd.Args
	r.Meta.Version = Version()
	r.Meta.MPIVersion = m.Version
	r.Meta.Transports = []string{transport}
	r.Meta.Machine = ThisMachine()
	return r, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
