package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/mpx-hpc/mpx/launcher"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, runCommand())
}

// Other files may extend `mpx run` (placement across nodes, for one) by
// appending flags here and a hook that reads them into the Config, in
// their init().
var (
	runExtraFlags  []cli.Flag
	runConfigHooks []func(c *cli.Context, cfg *launcher.Config) error
)

var runCmd *cli.Command

func runCommand() *cli.Command {
	runCmd = &cli.Command{
		Name:      "run",
		Usage:     "start a job of N ranks of PROGRAM",
		ArgsUsage: "PROGRAM [ARGS...]",
		Description: `PROGRAM is an executable (a path, or a name found on PATH) or a Go
package directory, which is built first (cached). Every rank gets the
environment contract (MPX_RANK, MPX_SIZE, ..., PMI_RANK, OMPI_COMM_WORLD_RANK,
...). The job succeeds only when every rank exits 0; when one fails, the
others are stopped and one line names the rank, its host and its exit status.
SIGINT and SIGTERM sent to mpx run are forwarded to every rank and stop the
job (ranks still running a moment later are killed; a second one kills them
at once). SIGUSR1 and SIGUSR2 are forwarded to every rank and the job goes on.
Arguments after PROGRAM go to the program.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Aliases: []string{"np"}, Usage: "start `N` ranks", DefaultText: "one per core"},
			&cli.StringSliceFlag{Name: "x", Usage: "pass `VAR` (its value here) or VAR=value to every rank; repeatable"},
			&cli.BoolFlag{Name: "tag-output", Usage: "prefix each line of output with [1,RANK]<stdout>: or <stderr>:"},
			timeoutFlag("stop the job after `SECONDS` or a DURATION (90s, 1m30s), first printing what each rank is blocked in"),
			&cli.BoolFlag{Name: "oversubscribe", Usage: "allow more ranks than cores"},
			&cli.StringSliceFlag{Name: "param", Usage: "set tunable parameter `name=value` for every rank (see mpx info); repeatable"},
			&cli.StringFlag{Name: "wdir", Usage: "working `DIR` of the ranks", DefaultText: "the current directory"},
		},
		Action: runAction,
	}
	return runCmd
}

// finishRunCommand adds the flags other files registered.
func finishRunCommand() {
	if runCmd != nil {
		runCmd.Flags = append(runCmd.Flags, runExtraFlags...)
		runExtraFlags = nil
	}
}

func runAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("run: no program given (usage: mpx run [flags] PROGRAM [ARGS...])")
	}
	if c.IsSet("n") && c.Int("n") < 1 {
		return usagef("run: -n %d: want at least 1 rank", c.Int("n"))
	}
	if c.IsSet("timeout") && c.Duration("timeout") <= 0 {
		return usagef("run: --timeout %v: want a positive duration", c.Duration("timeout"))
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGINT, syscall.SIGTERM}, launcher.ForwardedSignals...)...)
	defer signal.Stop(sigs)
	cfg := launcher.Config{
		Program:       c.Args().First(),
		Args:          c.Args().Tail(),
		NP:            c.Int("n"),
		Env:           c.StringSlice("x"),
		Params:        c.StringSlice("param"),
		TagOutput:     c.Bool("tag-output"),
		Timeout:       c.Duration("timeout"),
		Oversubscribe: c.Bool("oversubscribe"),
		Wdir:          c.String("wdir"),
		Stdout:        c.App.Writer,
		Stderr:        c.App.ErrWriter,
		Signals:       sigs,
	}
	for _, hook := range runConfigHooks {
		if err := hook(c, &cfg); err != nil {
			return err
		}
	}
	res, err := launcher.Run(context.Background(), cfg)
	if err != nil {
		if errors.Is(err, launcher.ErrUsage) {
			return usagef("run: %v", err)
		}
		return err
	}
	if res.ExitCode != 0 {
		return exitStatus(res.ExitCode)
	}
	return nil
}
