package launcher

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// selfBinary is the launcher's own executable and its digest, which tells
// whether a node already has the same mpx.
type selfBinary struct {
	path string
	sum  string
	size int64
}

var (
	selfOnce sync.Once
	self     selfBinary
	selfErr  error
)

func ownBinary() (selfBinary, error) {
	selfOnce.Do(func() {
		p, err := os.Executable()
		if err != nil {
			selfErr = fmt.Errorf("finding mpx's own binary: %w", err)
			return
		}
		data, err := os.ReadFile(p)
		if err != nil {
			selfErr = fmt.Errorf("reading mpx's own binary: %w", err)
			return
		}
		sum := sha256.Sum256(data)
		self = selfBinary{path: p, sum: hex.EncodeToString(sum[:]), size: int64(len(data))}
	})
	return self, selfErr
}

// agentRemoteScript is what ssh runs on the node. It reads the secret from
// standard input (never a command line), then runs the node's mpx when it is
// the launcher's very binary (same path or on PATH, same SHA-256), and
// otherwise asks for the binary, which the launcher then streams into a
// private temporary file that the agent deletes once running.
func agentRemoteScript(b selfBinary, agentArgs []string) string {
	var args []string
	for _, a := range agentArgs {
		args = append(args, shellQuote(a))
	}
	argStr := strings.Join(args, " ")
	script := `IFS= read -r MPX_AGENT_SECRET || exit 97; export MPX_AGENT_SECRET
for c in ` + shellQuote(b.path) + ` "$(command -v mpx 2>/dev/null)"; do
  if [ -n "$c" ] && [ -x "$c" ] && [ "$(sha256sum < "$c" 2>/dev/null | cut -c1-64)" = ` + b.sum + ` ]; then
    echo MPX-HAVE; exec "$c" agent ` + argStr + `
  fi
done
echo MPX-NEED
f=$(mktemp "${TMPDIR:-/tmp}/mpx-agent.XXXXXX") || exit 98
if head -c ` + fmt.Sprint(b.size) + ` > "$f" && [ "$(wc -c < "$f")" -eq ` + fmt.Sprint(b.size) + ` ] && chmod 700 "$f"; then
  exec "$f" agent --self-delete ` + argStr + `
fi
rm -f "$f"; exit 99`
	return "exec /bin/sh -c " + shellQuote(script)
}

// procRemote is an ssh (or local agent) process.
type procRemote struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	once   sync.Once
	exited chan struct{}
}

func (r *procRemote) stop() {
	r.once.Do(func() {
		if r.stdin != nil {
			r.stdin.Close()
		}
		select {
		case <-r.exited:
		case <-time.After(2 * time.Second):
			r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.exited
		}
	})
}

// capped keeps the first bytes written to it (what SSH says when it fails).
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := 8192 - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.buf.String())
}

// prefixLines passes what SSH or the agent print on the node to the
// launcher's messages, a line at a time, naming the node.
type prefixLines struct {
	prefix string
	logf   func(format string, args ...any)
	mu     sync.Mutex
	part   []byte
}

func (p *prefixLines) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		p.logf("%s%s", p.prefix, strings.TrimRight(string(p.part[:i]), "\r"))
		p.part = p.part[i+1:]
	}
	if len(p.part) > 4096 { // a very long line: pass it on in pieces
		p.logf("%s%s", p.prefix, p.part)
		p.part = p.part[:0]
	}
	return len(b), nil
}

// startSSHAgent starts the agent of host over SSH. Failures before the
// agent connects back are sent on failed, with SSH's own message.
func startSSHAgent(s *AgentStarter, host string, addrs []string, failed chan<- error) (remoteStarter, error) {
	b, err := ownBinary()
	if err != nil {
		return nil, err
	}
	sshCmd := s.SSH
	if len(sshCmd) == 0 {
		sshCmd = []string{"ssh"}
	}
	remote := agentRemoteScript(b, []string{"--connect", strings.Join(reachableFirst(addrs, host), ","), "--node", host})
	args := append(append(append([]string(nil), sshCmd[1:]...), host), remote)
	cmd := exec.Command(sshCmd[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &capped{}
	cmd.Stderr = io.MultiWriter(stderr, &prefixLines{prefix: "node " + host + ": ", logf: s.logf})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s for node %s: %w", sshCmd[0], host, err)
	}
	r := &procRemote{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(r.exited)
		if err != nil {
			msg := stderr.String()
			if msg == "" {
				msg = "(it printed nothing)"
			}
			select {
			case failed <- fmt.Errorf("%s %s: %v: %s", sshCmd[0], host, err, msg):
			default:
			}
		}
	}()
	go func() {
		fmt.Fprintf(stdin, "%s\n", hex.EncodeToString(s.secret))
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		if err != nil {
			return // ssh failed; its exit reports it
		}
		if strings.TrimSpace(line) == "MPX-NEED" {
			s.logf("node %s has no copy of this mpx: sending it (%.1f MB) over SSH", host, float64(b.size)/1e6)
			f, err := os.Open(b.path)
			if err == nil {
				_, err = io.Copy(stdin, f)
				f.Close()
			}
			if err != nil {
				s.logf("node %s: streaming mpx to it: %v", host, err)
			}
		}
		io.Copy(io.Discard, br) // the agent's stdout, unused
	}()
	return r, nil
}

// startLocalAgent starts an agent for a node that is this machine as a
// child process, without SSH.
func startLocalAgent(s *AgentStarter, host string, addrs []string, failed chan<- error) (remoteStarter, error) {
	b, err := ownBinary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.path, "agent", "--connect", strings.Join(addrs, ","), "--node", host)
	cmd.Env = append(os.Environ(), envAgentSecret+"="+hex.EncodeToString(s.secret))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &capped{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the local agent: %w", err)
	}
	r := &procRemote{cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(r.exited)
		if err != nil {
			select {
			case failed <- fmt.Errorf("local agent for %s: %v: %s", host, err, stderr.String()):
			default:
			}
		}
	}()
	return r, nil
}
