package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/mpx-hpc/mpx/launcher"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, agentCommand())
	runExtraFlags = append(runExtraFlags, clusterFlags()...)
	runConfigHooks = append(runConfigHooks, clusterConfig)
}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run a job's ranks on this node for a launcher (started by mpx run, or beforehand with --listen)",
		Description: `An agent forks its node's ranks, forwards their output, signals and
exit statuses, and removes what the job left when it ends. mpx run starts one
per node over SSH or with srun; for containers and cloud machines where
neither is available, start it beforehand:

   mpx agent --listen :7070 --secret-file /etc/mpx/agent.key
   mpx run --hostfile hosts --agent-port 7070 --agent-secret-file /etc/mpx/agent.key ./prog

The secret file must be readable by its owner only (chmod 600). An agent
serves several jobs at once and tells launchers beyond 32 connections in
handshake that it is busy.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connect", Usage: "launcher `ADDRS` (host:port, comma-separated) to connect back to"},
			&cli.StringFlag{Name: "node", Usage: "`NAME` of this node in the job map"},
			&cli.BoolFlag{Name: "node-from-slurm", Usage: "name this node by SLURMD_NODENAME (agents started by srun)"},
			&cli.BoolFlag{Name: "self-delete", Usage: "remove this binary once running (a copy the launcher streamed here)"},
			&cli.StringFlag{Name: "listen", Usage: "serve launchers that connect to `ADDR`, several jobs at once"},
			&cli.StringFlag{Name: "secret-file", Usage: "with --listen: `FILE` holding the secret launchers must know"},
		},
		Action: agentAction,
	}
}

func agentAction(c *cli.Context) error {
	if c.Bool("self-delete") {
		if p, err := os.Executable(); err == nil {
			os.Remove(p) // the running image stays until exit
		}
	}
	node := c.String("node")
	if c.Bool("node-from-slurm") {
		node = os.Getenv("SLURMD_NODENAME")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.App.ErrWriter, "mpx agent: "+format+"\n", args...)
	}
	if addr := c.String("listen"); addr != "" {
		if c.String("secret-file") == "" {
			return usagef("agent: --listen needs --secret-file (the secret launchers must know)")
		}
		sec, err := launcher.ReadSecretFile(c.String("secret-file"))
		if err != nil {
			return usagef("agent: %v", err)
		}
		return listenAgent(addr, node, sec, logf)
	}
	if c.String("connect") == "" {
		return usagef("agent: give --connect (started by mpx run) or --listen")
	}
	sec, err := hex.DecodeString(os.Getenv("MPX_AGENT_SECRET"))
	if err != nil || len(sec) == 0 {
		return usagef("agent: MPX_AGENT_SECRET is missing or not hex (agents are started by mpx run)")
	}
	os.Unsetenv("MPX_AGENT_SECRET")
	conn, err := dialLauncher(strings.Split(c.String("connect"), ","))
	if err != nil {
		return err
	}
	return launcher.ServeAgent(conn, launcher.AgentConfig{Node: node, Secret: sec, Logf: logf})
}

// dialLauncher tries the launcher's addresses, the one SSH came from first
// (SSH_CONNECTION names the client), and returns the first that answers.
func dialLauncher(addrs []string) (net.Conn, error) {
	var cands []string
	if sc := strings.Fields(os.Getenv("SSH_CONNECTION")); len(sc) == 4 && len(addrs) > 0 {
		if _, port, err := net.SplitHostPort(addrs[0]); err == nil {
			cands = append(cands, net.JoinHostPort(sc[0], port))
		}
	}
	cands = append(cands, addrs...)
	var errs []string
	for _, a := range cands {
		conn, err := net.DialTimeout("tcp", a, 3*time.Second)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("agent: cannot reach the launcher: %s", strings.Join(errs, "; "))
}

func listenAgent(addr, node string, sec []byte, logf func(string, ...any)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	logf("listening on %s", ln.Addr())
	return launcher.ServeAgents(ln, launcher.AgentConfig{Node: node, Secret: sec, Logf: logf})
}

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "host", Aliases: []string{"H"}, Usage: "run on `HOSTS`: a:2,b:2 (slots after ':') or a,a,b; repeatable"},
		&cli.StringFlag{Name: "hostfile", Aliases: []string{"machinefile"}, Usage: "`FILE` of hosts: 'node slots=4 max_slots=8' (Open MPI) or 'node:4' (Hydra) lines"},
		&cli.StringFlag{Name: "map-by", Usage: "place ranks by `POLICY`: slot (fill each host), node (round-robin) or ppr:N:node"},
		&cli.IntFlag{Name: "npernode", Aliases: []string{"N"}, Usage: "`N` ranks on each host (ppr:N:node)"},
		&cli.StringFlag{Name: "bind-to", Usage: "bind each rank to a `core`, or none (default: core unless a node is oversubscribed)"},
		&cli.BoolFlag{Name: "report-bindings", Usage: "print each rank's CPU binding"},
		&cli.BoolFlag{Name: "display-map", Usage: "print which host runs which rank"},
		&cli.BoolFlag{Name: "preload-binary", Usage: "copy the program to each node's temporary directory and run it from there"},
		&cli.StringFlag{Name: "preload-files", Usage: "copy `FILES` (comma-separated) next to the preloaded program on each node"},
		&cli.StringFlag{Name: "iface", Usage: "interface `NAME` or CIDR for wire-up and data (tcp_iface)"},
		&cli.BoolFlag{Name: "report-transports", Usage: "each rank prints the transport and address it uses for each peer (report_transports)"},
		&cli.StringFlag{Name: "port-range", Usage: "listening ports `LO-HI` of the ranks, for firewalled clusters (tcp_port_range)"},
		&cli.StringFlag{Name: "launch-agent", Value: "ssh", Usage: "`COMMAND` and options that reach a node (Open MPI's plm_rsh_agent), e.g. 'ssh -F cfg -p 2222'"},
		&cli.IntFlag{Name: "agent-port", Usage: "use agents pre-started with mpx agent --listen on this `PORT` of each host"},
		&cli.StringFlag{Name: "agent-secret-file", Usage: "`FILE` with the secret of the pre-started agents"},
	}
}

// clusterConfig turns the placement and multi-node flags into the Config:
// hosts from --host, --hostfile or the Slurm allocation, and the agent
// starter that reaches them.
func clusterConfig(c *cli.Context, cfg *launcher.Config) error {
	if c.Bool("report-transports") {
		cfg.Params = append(cfg.Params, "report_transports=true")
	}
	hosts, via, err := runHosts(c)
	if err != nil {
		return err
	}
	bindTo, err := launcher.ParseBindTo(c.String("bind-to"))
	if err != nil {
		return usagef("run: %v", err)
	}
	anyAgentFlag := c.IsSet("bind-to") || c.Bool("report-bindings") || c.Bool("display-map") ||
		c.Bool("preload-binary") || c.IsSet("preload-files") || c.IsSet("agent-port")
	if hosts == nil && !anyAgentFlag && !c.IsSet("map-by") && !c.IsSet("npernode") {
		return nil // the launcher's own single-node start
	}
	if hosts == nil {
		hosts, via = []launcher.Host{{Name: "localhost", Slots: goruntime.NumCPU()}}, "local"
	}
	if c.IsSet("agent-port") {
		via = "listen"
	}
	cfg.Hosts, cfg.MapBy, cfg.NPerNode = hosts, c.String("map-by"), c.Int("npernode")
	jm, err := launcher.MapRanks(hosts, launcher.MapOptions{NP: cfg.NP, MapBy: cfg.MapBy, NPerNode: cfg.NPerNode, Oversubscribe: cfg.Oversubscribe})
	if err != nil {
		return usagef("run: %v", err)
	}
	listenHost := ""
	if ifc := c.String("iface"); ifc != "" {
		ip, err := ifaceAddr(ifc)
		if err != nil {
			return usagef("run: --iface %s: %v", ifc, err)
		}
		listenHost = ip
		cfg.Params = append(cfg.Params, "tcp_iface="+ifc)
	}
	if pr := c.String("port-range"); pr != "" {
		cfg.Params = append(cfg.Params, "tcp_port_range="+pr)
	}
	st := &launcher.AgentStarter{
		Map: jm, Via: via, SSH: strings.Fields(c.String("launch-agent")), AgentPort: c.Int("agent-port"),
		ListenHost: listenHost, BindTo: bindTo, ReportBindings: c.Bool("report-bindings"),
		DisplayMap: c.Bool("display-map"), Preload: c.Bool("preload-binary"), Stderr: c.App.ErrWriter,
	}
	if via == "listen" {
		if c.String("agent-secret-file") == "" {
			return usagef("run: --agent-port needs --agent-secret-file (the secret of the pre-started agents)")
		}
		if st.AgentSecret, err = launcher.ReadSecretFile(c.String("agent-secret-file")); err != nil {
			return usagef("run: %v", err)
		}
	}
	if f := c.String("preload-files"); f != "" {
		st.PreloadFiles = strings.Split(f, ",")
	}
	for _, x := range c.StringSlice("x") {
		if name, _, hasValue := strings.Cut(x, "="); !hasValue {
			st.ForwardEnv = append(st.ForwardEnv, name)
		}
	}
	cfg.Starter = st
	kvHost := listenHost
	if kvHost == "" {
		kvHost = "0.0.0.0"
		if via == "local" {
			kvHost = "127.0.0.1"
		}
	}
	cfg.KVAddr = net.JoinHostPort(kvHost, "0")
	return nil
}

// ifaceAddr finds this host's IPv4 address on the interface named, or in
// the CIDR given.
func ifaceAddr(spec string) (string, error) {
	var want *net.IPNet
	var ifs []net.Interface
	if _, n, err := net.ParseCIDR(spec); err == nil {
		want = n
		ifs, _ = net.Interfaces()
	} else {
		ifc, err := net.InterfaceByName(spec)
		if err != nil {
			return "", fmt.Errorf("no interface or CIDR of that name: %v", err)
		}
		ifs = []net.Interface{*ifc}
	}
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			if want == nil || want.Contains(ipn.IP) {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("this host has no IPv4 address there")
}
