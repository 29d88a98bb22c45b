package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mpx-hpc/mpx/bench"
	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/launcher"
	"github.com/mpx-hpc/mpx/param"
	mpxrt "github.com/mpx-hpc/mpx/runtime"
	"github.com/mpx-hpc/mpx/runtime/bootstrap"
	"github.com/mpx-hpc/mpx/transport"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, benchCommand())
}

func benchCommand() *cli.Command {
	var subs []*cli.Command
	for _, t := range bench.Tests() {
		subs = append(subs, testCommand(t))
	}
	subs = append(subs, compareCommand(), plotCommand())
	return &cli.Command{
		Name:      "bench",
		Usage:     "OSU-style latency, bandwidth and collective benchmarks, and comparison with an installed MPI",
		ArgsUsage: "TEST [flags]",
		Description: `Runs one of the OSU micro-benchmarks' tests through mpx, on ranks it starts
itself (or on the job's ranks when run inside mpx run), and prints the OSU
table. Tests: ` + strings.Join(bench.Names(), ", ") + `.

  mpx bench latency -n 2 -m 0:4k
  mpx bench allreduce -n 4 --json > allreduce.json
  mpx bench compare latency --transport tcp --plot lat.svg
  mpx bench plot a.json b.json -o cmp.png`,
		Subcommands: subs,
		Action:      noTestAction("bench", "compare, plot"),
	}
}

// noTestAction answers `mpx bench` and `mpx bench compare` without a known
// test name: one line with the tests, exit status 2. also lists the other
// subcommands, if any.
func noTestAction(cmd, also string) cli.ActionFunc {
	return func(c *cli.Context) error {
		list := "tests: " + strings.Join(bench.Names(), ", ")
		if also != "" {
			list += "; also: " + also
		}
		if c.NArg() == 0 {
			return usagef("%s: name a test (%s; see `mpx %s --help`)", cmd, list, cmd)
		}
		return usagef("%s: unknown test %q (%s)", cmd, c.Args().First(), list)
	}
}

// testFlags are the OSU habits (-m, -i, -x) and mpx's own.
func testFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "n", Aliases: []string{"np"}, Value: 2, Usage: "number of ranks to start (ignored inside mpx run)"},
		&cli.BoolFlag{Name: "oversubscribe", Usage: "allow more ranks than cores, as mpx run does"},
		&cli.StringFlag{Name: "m", Usage: "message sizes `MIN:MAX` (or MAX) in bytes, k/m suffixes allowed; powers of two between"},
		&cli.StringFlag{Name: "i", Usage: "timed iterations `N` for every size, or N:L for sizes below/from 8 KiB (default: OSU's schedule)"},
		&cli.StringFlag{Name: "x", Usage: "warm-up iterations `N`, or N:L below/from 8 KiB (default: OSU's schedule)"},
		&cli.IntFlag{Name: "window", Aliases: []string{"W"}, Value: 64, Usage: "sends in flight per iteration of the bandwidth tests"},
		&cli.StringFlag{Name: "transport", Value: "auto", Usage: "transport between ranks: auto, shm or tcp"},
		&cli.StringSliceFlag{Name: "param", Usage: "set tunable parameter `name=value` for every rank (see mpx info); repeatable"},
		&cli.StringFlag{Name: "level", Value: bench.LevelComm, Usage: "measure through comm (matching, protocols) or on bare transport frames: comm or transport"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		&cli.BoolFlag{Name: "csv", Usage: "print the result as CSV"},
		&cli.StringFlag{Name: "plot", Usage: "draw the curve into `FILE` (.svg, .png or .pdf)"},
		timeoutFlag("stop the benchmark job after `SECONDS` or a DURATION (90s, 1m30s)"),
		// --child: started by mpx bench itself; rank 0 reports progress and
		// the result as JSON on stdout for the parent to read.
		&cli.BoolFlag{Name: "child", Hidden: true},
	}
}

func testCommand(t *bench.Test) *cli.Command {
	return &cli.Command{
		Name:      t.Name,
		Usage:     "OSU " + t.Title,
		ArgsUsage: " ",
		Flags:     testFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("bench %s: unexpected argument %q (flags go after the test name)", t.Name, c.Args().First())
			}
			o, err := benchOptions(c, t)
			if err != nil {
				return err
			}
			if os.Getenv(bootstrap.EnvRank) != "" {
				return inJob(c, t, o)
			}
			r, err := launchBench(c, t, o, c.App.ErrWriter, bench.NewProgress(os.Stderr, "mpx bench "+t.Name))
			if err != nil {
				return err
			}
			return output(c, r)
		},
	}
}

// benchOptions reads the schedule flags over the test's OSU defaults.
func benchOptions(c *cli.Context, t *bench.Test) (bench.Options, error) {
	o := bench.Defaults(t)
	if s := c.String("m"); s != "" {
		if err := bench.ParseRange(s, &o); err != nil {
			return o, usagef("bench: %v", err)
		}
	}
	if s := c.String("i"); s != "" {
		a, b, err := bench.ParseCounts(s)
		if err != nil {
			return o, usagef("bench: -i %v", err)
		}
		o.Iters, o.ItersLarge = a, b
	}
	if s := c.String("x"); s != "" {
		a, b, err := bench.ParseCounts(s)
		if err != nil {
			return o, usagef("bench: -x %v", err)
		}
		o.Warmup, o.WarmupLarge = a, b
	}
	o.Window = c.Int("window")
	if t.Name == "barrier" {
		o.MinSize, o.MaxSize = 0, 0
	}
	if err := o.Check(); err != nil {
		return o, usagef("bench %s: %v", t.Name, err)
	}
	switch c.String("level") {
	case bench.LevelComm:
	case bench.LevelTransport:
		if !t.Transport {
			return o, usagef("bench %s: --level transport measures latency and bw only", t.Name)
		}
	default:
		return o, usagef("bench: --level %q: want comm or transport", c.String("level"))
	}
	switch tr := c.String("transport"); tr {
	case "auto", "shm", "tcp":
	default:
		return o, usagef("bench: --transport %q: want auto, shm or tcp", tr)
	}
	if c.Int("n") < 1 {
		return o, usagef("bench: -n %d: want at least 1 rank", c.Int("n"))
	}
	if c.Bool("json") && c.Bool("csv") {
		return o, usagef("bench: --json and --csv exclude each other")
	}
	return o, nil
}

// benchParams are the --param values plus --transport, as name=value.
func benchParams(c *cli.Context) []string {
	ps := append([]string(nil), c.StringSlice("param")...)
	if tr := c.String("transport"); tr != "auto" {
		ps = append(ps, "transport="+tr)
	}
	return ps
}

// transportsUsed names what carried the traffic: one node, so "auto"
// means shared memory.
func transportsUsed(c *cli.Context) []string {
	tr := c.String("transport")
	if tr == "auto" {
		tr = "shm"
	}
	return []string{tr}
}

// childArgs are the arguments of the mpx processes a launch starts.
func childArgs(c *cli.Context, t *bench.Test, o bench.Options) []string {
	return []string{"bench", t.Name, "--child",
		"-m", fmt.Sprintf("%d:%d", o.MinSize, o.MaxSize),
		"-i", fmt.Sprintf("%d:%d", o.Iters, o.ItersLarge),
		"-x", fmt.Sprintf("%d:%d", o.Warmup, o.WarmupLarge),
		"--window", strconv.Itoa(o.Window),
		"--level", c.String("level"),
	}
}

// launchBench starts -n ranks of this very binary running the test and
// reads rank 0's JSON result from their output.
func launchBench(c *cli.Context, t *bench.Test, o bench.Options, stderr io.Writer, progress func(done, total int)) (*bench.Result, error) {
	if err := t.CheckRanks(c.Int("n")); err != nil {
		return nil, usagef("bench: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: cannot find the mpx binary to start ranks with: %w", err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	out := &childOutput{progress: progress}
	res, err := launcher.Run(context.Background(), launcher.Config{
		Program:       exe,
		Args:          childArgs(c, t, o),
		NP:            c.Int("n"),
		Params:        benchParams(c),
		Timeout:       c.Duration("timeout"),
		Oversubscribe: c.Bool("oversubscribe"),
		Stdout:        out,
		Stderr:        stderr,
		Signals:       sigs,
	})
	if progress != nil {
		progress(1, 1) // erase the bar
	}
	if err != nil {
		if errors.Is(err, launcher.ErrUsage) {
			return nil, usagef("bench: %v", err)
		}
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, exitStatus(res.ExitCode)
	}
	var r bench.Result
	if err := json.Unmarshal(out.data.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("bench %s: reading rank 0's result: %w\n%s", t.Name, err, out.data.String())
	}
	r.Meta = bench.NewMeta(os.Args, transportsUsed(c))
	r.Meta.Params = paramsOf(c)
	return &r, nil
}

// paramsOf are the parameters a reproduction must set: those changed in
// this process's environment and those given with --param / --transport.
func paramsOf(c *cli.Context) map[string]string {
	m := bench.ChangedParams()
	for _, kv := range benchParams(c) {
		k, v, err := param.Parse(kv)
		if err != nil {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m
}

// progressPrefix marks the lines a child's rank 0 prints after each size.
const progressPrefix = "# progress "

// childOutput collects the child job's standard output: progress lines
// drive the bar, the rest is the JSON result. The launcher writes whole
// lines.
type childOutput struct {
	mu       sync.Mutex
	data     bytes.Buffer
	progress func(done, total int)
}

func (w *childOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rest, ok := bytes.CutPrefix(p, []byte(progressPrefix)); ok {
		var done, total int
		if _, err := fmt.Sscanf(string(rest), "%d %d", &done, &total); err == nil && w.progress != nil && done < total {
			w.progress(done, total)
		}
		return len(p), nil
	}
	return w.data.Write(p)
}

// inJob runs the test on the job's ranks (started by mpx run, or by a
// parent mpx bench with --child).
func inJob(c *cli.Context, t *bench.Test, o bench.Options) error {
	for _, kv := range c.StringSlice("param") {
		k, v, err := param.Parse(kv)
		if err != nil {
			return usagef("bench: %v", err)
		}
		if err := param.Set(k, v); err != nil {
			return usagef("bench: %v", err)
		}
	}
	if tr := c.String("transport"); tr != "auto" {
		if err := param.Set("transport", tr); err != nil {
			return usagef("bench: %v", err)
		}
	}
	child := c.Bool("child")
	var r *bench.Result
	var err error
	if c.String("level") == bench.LevelTransport {
		r, err = transportLevel(t, o, func(rank int) func(done, total int) {
			return rankProgress(c, t, rank, child)
		})
	} else {
		var world *comm.Comm
		if world, err = comm.Init(); err != nil {
			return err
		}
		o.Progress = rankProgress(c, t, world.Rank(), child)
		if r, err = bench.Run(world, t, o); err != nil {
			world.Abort(1)
			return err
		}
		err = world.Finalize()
	}
	if err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	if child {
		return bench.WriteJSON(c.App.Writer, r)
	}
	r.Meta = bench.NewMeta(os.Args, transportsUsed(c))
	return output(c, r)
}

// rankProgress is how rank reports progress: rank 0 of a child job prints
// lines for its parent, rank 0 of a job under mpx run draws a bar when
// stderr is a terminal, other ranks say nothing.
func rankProgress(c *cli.Context, t *bench.Test, rank int, child bool) func(done, total int) {
	switch {
	case rank != 0:
		return nil
	case child:
		return func(done, total int) { fmt.Fprintf(c.App.Writer, "%s%d %d\n", progressPrefix, done, total) }
	}
	return bench.NewProgress(os.Stderr, "mpx bench "+t.Name)
}

// transportLevel runs t on bare frames: the runtime wires the job up with
// a frame counter as its handler instead of comm's protocol engine.
func transportLevel(t *bench.Test, o bench.Options, progress func(rank int) func(done, total int)) (*bench.Result, error) {
	env, launched, err := mpxrt.Detect()
	if err != nil {
		return nil, err
	}
	if !launched {
		return nil, fmt.Errorf("bench %s --level transport: not started by mpx run", t.Name)
	}
	f := bench.NewFrames(o.MaxSize)
	rt, err := mpxrt.Start(env, f)
	if err != nil {
		return nil, fmt.Errorf("bench %s: rank %d: %w", t.Name, env.Rank, err)
	}
	w := &bench.Wire{Rank: env.Rank, Size: env.Size, Pollers: rt.Pollers(),
		Peer: func(r int) (transport.Endpoint, error) {
			ep, _, err := rt.Peer(r)
			return ep, err
		}}
	o.Progress = progress(env.Rank)
	r, err := bench.RunTransport(w, f, t, o)
	if err != nil {
		rt.Abort(1, err.Error())
		return nil, err
	}
	return r, rt.Finalize()
}

// output prints r as asked (OSU table, --json or --csv) and draws --plot.
func output(c *cli.Context, r *bench.Result) error {
	var err error
	switch {
	case c.Bool("json"):
		err = bench.WriteJSON(c.App.Writer, r)
	case c.Bool("csv"):
		err = bench.WriteCSV(c.App.Writer, r)
	default:
		err = bench.WriteOSU(c.App.Writer, r)
	}
	if err != nil {
		return err
	}
	if p := c.String("plot"); p != "" {
		t, _ := bench.Lookup(r.Test)
		return bench.Plot(p, "mpx "+t.Title, []bench.Series{bench.ResultSeries(r, "")})
	}
	return nil
}

func compareCommand() *cli.Command {
	var subs []*cli.Command
	for _, t := range bench.Tests() {
		subs = append(subs, compareTestCommand(t))
	}
	return &cli.Command{
		Name:      "compare",
		Usage:     "run a test through mpx and through an installed MPI, alternately, and print both with their ratio",
		ArgsUsage: "TEST [flags]",
		Description: `The MPI side is mpx's C port of the same test (same sizes, schedule and
output), built with the MPI's mpicc into a cache directory. Open MPI is run
with --mca btl self,vader (--transport shm) or self,tcp on loopback
(--transport tcp), so that like is compared with like. Each side runs
--repeat times, alternating; the table shows the medians and the ratio
(mpx/MPI for latency, MPI/mpx for bandwidth: above 1, mpx is slower).`,
		Subcommands: subs,
		Action:      noTestAction("bench compare", ""),
	}
}

func compareTestCommand(t *bench.Test) *cli.Command {
	flags := testFlags()
	for _, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "transport" {
			sf.Value = "shm"
			sf.Usage = "transport of both sides: shm or tcp"
		}
	}
	flags = append(flags,
		&cli.IntFlag{Name: "repeat", Value: 5, Usage: "runs of each side; medians are reported"},
		&cli.StringFlag{Name: "mpicc", Usage: "MPI compiler wrapper (default: mpicc on PATH)"},
		&cli.StringFlag{Name: "mpirun", Usage: "MPI launcher (default: mpirun on PATH)"},
		&cli.StringFlag{Name: "cache-dir", Usage: "where the C benchmark is built (default: the user cache directory)"},
	)
	return &cli.Command{
		Name:      t.Name,
		Usage:     "compare the OSU " + t.Title + " of mpx and an installed MPI",
		ArgsUsage: " ",
		Flags:     flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("bench compare %s: unexpected argument %q", t.Name, c.Args().First())
			}
			o, err := benchOptions(c, t)
			if err != nil {
				return err
			}
			if c.String("level") != bench.LevelComm {
				return usagef("bench compare: the MPI side has no transport level; compare at --level comm")
			}
			tr := c.String("transport")
			if tr != "shm" && tr != "tcp" {
				return usagef("bench compare: --transport %q: want shm or tcp", tr)
			}
			if c.Int("repeat") < 1 {
				return usagef("bench compare: --repeat %d: want at least 1", c.Int("repeat"))
			}
			cmp, err := compareRun(c, t, o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				err = bench.WriteJSON(c.App.Writer, cmp)
			} else {
				err = bench.WriteComparison(c.App.Writer, cmp)
			}
			if err != nil {
				return err
			}
			if p := c.String("plot"); p != "" {
				return bench.Plot(p, "mpx vs "+cmp.MPIName+": "+t.Title+" ("+tr+")", cmp.Series())
			}
			return nil
		},
	}
}

func compareRun(c *cli.Context, t *bench.Test, o bench.Options) (*bench.Comparison, error) {
	ctx := context.Background()
	mpi, err := bench.FindMPI(ctx, c.String("mpicc"), c.String("mpirun"))
	if err != nil {
		return nil, err
	}
	dir := c.String("cache-dir")
	if dir == "" {
		if dir, err = bench.CacheDir(); err != nil {
			return nil, err
		}
	}
	exe, err := mpi.Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	bar := bench.NewProgress(os.Stderr, "mpx bench compare "+t.Name)
	cmp, err := bench.Compare(ctx, bench.CompareConfig{
		Test: t, Ranks: c.Int("n"), Transport: c.String("transport"), Repeat: c.Int("repeat"),
		Opts: o, MPI: mpi, Exe: exe, Progress: bar,
		RunMPX: func(ctx context.Context) (*bench.Result, error) {
			return launchBench(c, t, o, c.App.ErrWriter, nil)
		},
	})
	if err != nil {
		return nil, err
	}
	cmp.Meta = bench.NewMeta(os.Args, []string{c.String("transport")})
	cmp.Meta.Params = paramsOf(c)
	cmp.Meta.MPIVersion = mpi.Version
	return cmp, nil
}

func plotCommand() *cli.Command {
	return &cli.Command{
		Name:      "plot",
		Usage:     "overlay the curves of result files (from --json) in one picture",
		ArgsUsage: "FILE.json... -o OUT.svg|png [--title TITLE]",
		// Flags may follow the files, which the flag package would not
		// allow: they are read here.
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			files, out, title, err := plotArgs(c.Args().Slice())
			if err != nil {
				return err
			}
			var series []bench.Series
			for _, f := range files {
				rf, err := bench.ReadFile(f)
				if err != nil {
					return err
				}
				series = append(series, bench.FileSeries(rf)...)
			}
			if title == "" {
				title = "mpx bench"
			}
			return bench.Plot(out, title, series)
		},
	}
}

func plotArgs(args []string) (files []string, out, title string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "--output" || a == "--title":
			if i+1 == len(args) {
				return nil, "", "", usagef("bench plot: %s needs a value", a)
			}
			i++
			if a == "--title" {
				title = args[i]
			} else {
				out = args[i]
			}
		case strings.HasPrefix(a, "-o="), strings.HasPrefix(a, "--output="):
			_, out, _ = strings.Cut(a, "=")
		case strings.HasPrefix(a, "--title="):
			_, title, _ = strings.Cut(a, "=")
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, "", "", usagef("bench plot: unknown flag %s (usage: mpx bench plot FILE.json... -o OUT.svg)", a)
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 || out == "" {
		return nil, "", "", usagef("bench plot: want result files and -o OUT.svg|png")
	}
	return files, out, title, nil
}
