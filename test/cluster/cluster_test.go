//go:build cluster

package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rig is the node rig shared by the SSH tests.
var rig struct {
	dir   string   // nodes.sh state and env
	bin   string   // DIR/bin: mpx and the rank programs (hidden on the bare node)
	nodes []string // node addresses; the last one is bare (no mpx installed)
	ns    []string // their namespaces
	ssh   string   // --launch-agent value
	cidr  string   // the rig's subnet, 198.18.S.0/24
	repo  string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/cluster: must run as root (network namespaces, sshd, Slurm)")
		return 1
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rig.repo = repo
	tmp, err := os.MkdirTemp("", "mpx-cluster-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	rig.dir = filepath.Join(tmp, "rig")
	up := exec.Command(filepath.Join(repo, "scripts/cluster/nodes.sh"), "up", "3", rig.dir)
	up.Env = append(os.Environ(), "MPX_CLUSTER_BARE=3")
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	if err := up.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "test/cluster: nodes.sh up: %v\n", err)
		exec.Command(filepath.Join(repo, "scripts/cluster/nodes.sh"), "down", rig.dir).Run()
		return 1
	}
	defer func() {
		down := exec.Command(filepath.Join(repo, "scripts/cluster/nodes.sh"), "down", rig.dir)
		down.Stdout, down.Stderr = os.Stderr, os.Stderr
		down.Run()
	}()
	env, err := os.ReadFile(filepath.Join(rig.dir, "env"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			vars[k] = strings.Trim(v, `"`)
		}
	}
	rig.bin = vars["MPX_CLUSTER_BIN"]
	rig.nodes = strings.Fields(vars["MPX_CLUSTER_NODES"])
	rig.ns = strings.Fields(vars["MPX_CLUSTER_NS"])
	rig.ssh = "ssh -F " + vars["MPX_CLUSTER_SSH_CONFIG"]
	rig.cidr = strings.TrimSuffix(vars["MPX_CLUSTER_BRIDGE_IP"], ".1") + ".0/24"
	for name, pkg := range map[string]string{"mpx": "./cmd/mpx", "ring": "./examples/ring", "hello": "./examples/hello", "pmi2probe": "./test/cluster/testdata/pmi2probe", "faulty": "./cmd/mpx/testdata/faulty"} {
		b := exec.Command("go", "build", "-o", filepath.Join(rig.bin, name), pkg)
		b.Dir = repo
		if out, err := b.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "test/cluster: building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// hostfile writes a hostfile of the given nodes (1-based), slots each.
func hostfile(t *testing.T, slots int, nodes ...int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# written by the cluster tests\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "%s slots=%d\n", rig.nodes[n-1], slots)
	}
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// mpx runs the rig's mpx with a deadline, from a directory every node has.
func mpx(t *testing.T, deadline time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(rig.bin, "mpx"), args...)
	cmd.Dir = os.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("mpx %s: still running after %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), deadline, r.stdout, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// leftovers lists the processes other than sshd still running in the
// nodes' namespaces.
func leftovers() []string {
	var left []string
	for i, ns := range rig.ns {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, pid := range strings.Fields(string(out)) {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			name := strings.TrimSpace(string(comm))
			if name != "sshd" && name != "" {
				left = append(left, fmt.Sprintf("node %d: %s (pid %s)", i+1, name, pid))
			}
		}
	}
	return left
}

// checkClean fails unless nothing but sshd runs on any node within 10s.
func checkClean(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := leftovers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left running on the nodes: %s", strings.Join(left, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestTwoNodesTwoRanks(t *testing.T) {
	hf := hostfile(t, 2, 1, 2)
	r := mpx(t, time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, "--display-map", filepath.Join(rig.bin, "ring"), "-laps", "20")
	if r.code != 0 || !strings.Contains(r.stdout, "ring: 20 laps over 4 ranks, token 120 (expected 120): ok") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, n := range rig.nodes[:2] {
		if !strings.Contains(r.stderr, "Data for node: "+n+"\tNum slots: 2\tMax slots: unlimited\tNum procs: 2") {
			t.Errorf("map lacks node %s:\n%s", n, r.stderr)
		}
	}
	r = mpx(t, time.Minute, "run", "-H", rig.nodes[0]+","+rig.nodes[1], "--map-by", "node", "--launch-agent", rig.ssh, "-x", "MPXTEST=1",
		filepath.Join(rig.bin, "hello"))
	if r.code != 0 || strings.Count(r.stdout, "hello from rank") != 2 {
		t.Fatalf("-H: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// The subnet and ports forced, and the transports reported.
	r = mpx(t, time.Minute, "run", "-H", rig.nodes[0]+":2,"+rig.nodes[1]+":2", "--launch-agent", rig.ssh,
		"--iface", rig.cidr, "--port-range", "40000-40099", "--report-transports", filepath.Join(rig.bin, "ring"), "-laps", "3")
	if r.code != 0 || !strings.Contains(r.stdout, "token 18 (expected 18): ok") {
		t.Fatalf("--iface: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, n := range rig.nodes[:2] {
		if strings.Count(r.stderr, "tcp from "+n+":400") != 2 {
			t.Errorf("transport report lacks tcp from %s:400xx on both of its ranks:\n%s", n, r.stderr)
		}
	}
	checkClean(t)
}

// TestThreeNodesBare runs on three nodes from a hostfile; mpx is not
// installed on the third, so the launcher streams itself there, and the
// rank program goes to every node by --preload-binary.
func TestThreeNodesBare(t *testing.T) {
	hf := hostfile(t, 2, 1, 2, 3)
	r := mpx(t, 2*time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, "--preload-binary", "--report-bindings",
		filepath.Join(rig.bin, "ring"), "-laps", "10")
	if r.code != 0 || !strings.Contains(r.stdout, "ring: 10 laps over 6 ranks, token 150 (expected 150): ok") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	want := "node " + rig.nodes[2] + " has no copy of this mpx: sending it"
	if !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "has no copy of this mpx") != 1 {
		t.Errorf("stderr does not say (only) the bare node got mpx streamed:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "MCW rank"); n != 6 {
		t.Errorf("%d binding reports, want 6:\n%s", n, r.stderr)
	}
	// Without --preload-binary the bare node cannot find the program.
	r = mpx(t, time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, filepath.Join(rig.bin, "ring"))
	if r.code == 0 || !strings.Contains(r.stderr, "on host "+rig.nodes[2]) {
		t.Errorf("without preload: exit %d, stderr: %s", r.code, r.stderr)
	}
	checkClean(t)
}

// whenRunning calls fn once a process named prog runs on node i (1-based).
func whenRunning(i int, prog string, fn func()) {
	go func() {
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			out, _ := exec.Command("ip", "netns", "pids", rig.ns[i-1]).Output()
			for _, pid := range strings.Fields(string(out)) {
				comm, _ := os.ReadFile("/proc/" + pid + "/comm")
				if strings.TrimSpace(string(comm)) == prog {
					time.Sleep(time.Second) // the job is under way
					fn()
					return
				}
			}
		}
	}()
}

func TestLinkDown(t *testing.T) {
	hf := hostfile(t, 2, 1, 2, 3)
	cut := make(chan time.Time, 1)
	whenRunning(2, "ring", func() {
		exec.Command(filepath.Join(rig.repo, "scripts/cluster/nodes.sh"), "link", rig.dir, "2", "down").Run()
		cut <- time.Now()
	})
	defer exec.Command(filepath.Join(rig.repo, "scripts/cluster/nodes.sh"), "link", rig.dir, "2", "up").Run()
	r := mpx(t, 2*time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, "--preload-binary", filepath.Join(rig.bin, "ring"), "-laps", "1000000000")
	if r.code == 0 || !strings.Contains(r.stderr, "node "+rig.nodes[1]+": no heartbeat from its agent") {
		t.Fatalf("exit %d, want a failure naming node %s\nstderr: %s", r.code, rig.nodes[1], r.stderr)
	}
	select {
	case at := <-cut:
		// Detection takes launcher_heartbeat_timeout (3s); stopping the
		// other nodes a little more.
		if d := time.Since(at); d > 15*time.Second {
			t.Errorf("the job ended %v after the link went down", d)
		}
		t.Logf("the job ended %v after the link went down", time.Since(at).Round(100*time.Millisecond))
	default:
		t.Error("the job failed before the link was cut")
	}
	checkClean(t) // the cut-off node's agent stops its ranks by itself
}

func TestAgentKilled(t *testing.T) {
	hf := hostfile(t, 2, 1, 2)
	whenRunning(2, "ring", func() {
		out, _ := exec.Command("ip", "netns", "pids", rig.ns[1]).Output()
		for _, pid := range strings.Fields(string(out)) {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if bytes.Contains(cmdline, []byte("\x00agent\x00")) {
				n, _ := strconv.Atoi(pid)
				if p, err := os.FindProcess(n); err == nil {
					p.Kill()
				}
			}
		}
	})
	r := mpx(t, 2*time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, filepath.Join(rig.bin, "ring"), "-laps", "1000000000")
	if r.code == 0 || !strings.Contains(r.stderr, "node "+rig.nodes[1]+": the agent's connection ended") {
		t.Fatalf("exit %d, want a failure naming node %s\nstderr: %s", r.code, rig.nodes[1], r.stderr)
	}
	checkClean(t)
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestFaultBlameAcrossNodes: rank 2, on the second node, is killed,
// panics or exits 0 without Finalize while the ranks of both nodes wait
// for it (over tcp from the first node, over shm from its neighbour).
// The ranks that notice abort; the job's last line must still name rank 2
// and what happened to it, and mpx exit as rank 2 did, every time.
func TestFaultBlameAcrossNodes(t *testing.T) {
	const runs = 5
	hf := hostfile(t, 2, 1, 2)
	for _, tc := range []struct {
		fault, line string
		code        int
	}{
		{"kill", `was killed by signal 9 \(killed\)`, 137},
		{"panic", `panicked \(exited with status 2\): assignment to entry in nil map`, 2},
		{"nofinalize", `exited with status 0 without calling Finalize`, 1},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			re := regexp.MustCompile(`^mpx: rank 2 on host ` + regexp.QuoteMeta(rig.nodes[1]) + ` ` + tc.line + `(; stopped [1-3] other ranks?)?$`)
			for i := range runs {
				r := mpx(t, time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh,
					filepath.Join(rig.bin, "faulty"), "-fault", tc.fault, "-rank", "2")
				if last := lastLine(r.stderr); r.code != tc.code || !re.MatchString(last) {
					t.Fatalf("run %d of %d: exit %d, last line %q; want %d and %s\nstderr: %s", i+1, runs, r.code, last, tc.code, re, r.stderr)
				}
			}
		})
	}
	checkClean(t)
}

// lockedBuffer may be read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUserSignalsAcrossNodes: SIGUSR1 and SIGUSR2 sent to mpx run reach
// the ranks of every node, through the agents, and the job goes on.
func TestUserSignalsAcrossNodes(t *testing.T) {
	const n = 4
	hf := hostfile(t, 2, 1, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(rig.bin, "mpx"), "run", "--hostfile", hf, "--launch-agent", rig.ssh,
		filepath.Join(rig.bin, "faulty"), "-fault", "signals")
	cmd.Dir = os.TempDir()
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	waitFor := func(s string) {
		for strings.Count(out.String(), s) < n {
			if ctx.Err() != nil {
				t.Fatalf("stdout never had %d times %q:\n%s\nstderr:\n%s", n, s, out.String(), errb.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(": ready")
	for _, sig := range []struct {
		sig  syscall.Signal
		name string
	}{{syscall.SIGUSR1, "SIGUSR1"}, {syscall.SIGUSR2, "SIGUSR2"}} {
		cmd.Process.Signal(sig.sig)
		waitFor("got " + sig.name) // one at a time: two pending would merge
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mpx run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for r := range n {
		for _, name := range []string{"SIGUSR1", "SIGUSR2"} {
			if got := strings.Count(out.String(), fmt.Sprintf("rank %d: got %s\n", r, name)); got != 1 {
				t.Errorf("rank %d got %s %d times, want once:\n%s", r, name, got, out.String())
			}
		}
	}
	checkClean(t)
}

func TestSSHFailure(t *testing.T) {
	r := mpx(t, time.Minute, "run", "-H", rig.nodes[0]+",nosuchnode.invalid", "--launch-agent", rig.ssh, filepath.Join(rig.bin, "hello"))
	if r.code == 0 || !strings.Contains(r.stderr, "nosuchnode.invalid") || !strings.Contains(r.stderr, "ssh: Could not resolve hostname") {
		t.Fatalf("exit %d, want SSH's own message\nstderr: %s", r.code, r.stderr)
	}
	checkClean(t)
}

// TestSlurm starts a one-node Slurm and runs jobs through salloc + mpx run
// and through srun --mpi=pmi2 with the PMI-2 client.
func TestSlurm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "slurm")
	script := filepath.Join(rig.repo, "scripts/cluster/slurm.sh")
	up := exec.Command(script, "up", dir)
	if out, err := up.CombinedOutput(); err != nil {
		exec.Command(script, "down", dir).Run()
		t.Fatalf("slurm.sh up: %v\n%s", err, out)
	}
	defer exec.Command(script, "down", dir).Run()
	slurm := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "SLURM_CONF="+filepath.Join(dir, "slurm.conf"))
		cmd.Dir = os.TempDir()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := slurm("salloc", "-N", "1", "-n", "2", filepath.Join(rig.bin, "mpx"), "run", "--display-map", filepath.Join(rig.bin, "ring"), "-laps", "5")
	if err != nil || !strings.Contains(out, "ring: 5 laps over 2 ranks, token 5 (expected 5): ok") || !strings.Contains(out, "Num procs: 2") {
		t.Errorf("salloc ... mpx run: %v\n%s", err, out)
	}
	out, err = slurm("srun", "--mpi=pmi2", "-n", "2", filepath.Join(rig.bin, "pmi2probe"))
	if err != nil || strings.Count(out, " ok\n") != 2 || !strings.Contains(out, "rank 1 of 2 node 0 local 1/2") {
		t.Errorf("srun --mpi=pmi2 pmi2probe: %v\n%s", err, out)
	}
	// A rank program started by srun alone, no mpx run: wire-up by PMI-2.
	out, err = slurm("srun", "--mpi=pmi2", "-n", "2", filepath.Join(rig.bin, "ring"), "-laps", "7")
	if err != nil || !strings.Contains(out, "ring: 7 laps over 2 ranks, token 7 (expected 7): ok") {
		t.Errorf("srun --mpi=pmi2 ring: %v\n%s", err, out)
	}
}

// TestPrestartedAgents runs jobs on agents started beforehand with
// `mpx agent --listen` (as in containers), two jobs in a row on the same
// agents, and refuses a launcher with the wrong secret.
func TestPrestartedAgents(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "agent.key")
	if err := os.WriteFile(key, []byte("prestarted-agent-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var agents []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command("ip", "netns", "exec", rig.ns[i], filepath.Join(rig.bin, "mpx"), "agent",
			"--listen", rig.nodes[i]+":7070", "--secret-file", key, "--node", rig.nodes[i])
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, cmd)
	}
	defer func() {
		for _, a := range agents {
			a.Process.Kill()
			a.Wait()
		}
		checkClean(t)
	}()
	for _, n := range rig.nodes[:2] {
		for try := 0; ; try++ {
			c, err := net.DialTimeout("tcp", n+":7070", time.Second)
			if err == nil {
				c.Close()
				break
			}
			if try == 50 {
				t.Fatalf("agent on %s does not listen: %v", n, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	hf := hostfile(t, 2, 1, 2)
	for job := range 2 {
		r := mpx(t, time.Minute, "run", "--hostfile", hf, "--agent-port", "7070", "--agent-secret-file", key, filepath.Join(rig.bin, "ring"), "-laps", "3")
		if r.code != 0 || !strings.Contains(r.stdout, "ring: 3 laps over 4 ranks, token 18 (expected 18): ok") {
			t.Fatalf("job %d: exit %d\nstdout: %s\nstderr: %s", job, r.code, r.stdout, r.stderr)
		}
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not-the-agents-secret-at-all\n"), 0o600)
	r := mpx(t, time.Minute, "run", "--hostfile", hf, "--agent-port", "7070", "--agent-secret-file", bad, filepath.Join(rig.bin, "hello"))
	if r.code == 0 || !strings.Contains(r.stderr, "secret") {
		t.Fatalf("wrong secret: exit %d, stderr: %s", r.code, r.stderr)
	}
}

// TestTimeoutNamesStoppedRankAcrossNodes: rank 2, on the second node,
// stops itself with SIGSTOP; when --timeout expires its agent reads its
// process state, and the report says it is stopped, by which signal, and
// its pid, as for a rank on the launcher's node.
func TestTimeoutNamesStoppedRankAcrossNodes(t *testing.T) {
	hf := hostfile(t, 2, 1, 2)
	r := mpx(t, time.Minute, "run", "--hostfile", hf, "--launch-agent", rig.ssh, "--timeout", "5s",
		filepath.Join(rig.bin, "faulty"), "-fault", "stop", "-rank", "2")
	re := regexp.MustCompile(`(?m)^mpx: rank 2 on host ` + regexp.QuoteMeta(rig.nodes[1]) +
		` \(pid [1-9]\d*\): stopped by signal 19 \(SIGSTOP\); no report: no answer within 1s$`)
	if r.code != 124 || !re.MatchString(r.stderr) {
		t.Fatalf("exit %d, want 124 and a line %s\nstderr: %s", r.code, re, r.stderr)
	}
	checkClean(t)
}
