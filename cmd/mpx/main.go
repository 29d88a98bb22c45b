// Command mpx starts and inspects mpx jobs: `mpx run` (the mpirun of mpx),
// `mpx info`, and the subcommands other files add. It holds nothing but
// flag handling; the work is in the packages it calls.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// commands are the subcommands; each file appends its own in init().
var commands []*cli.Command

// version is set at link time (-ldflags "-X main.version=v1.2.3"); empty
// means the module version and revision recorded by the Go toolchain.
var version string

func versionString() string {
	if version != "" {
		return version
	}
	v := "devel"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "+dirty"
		}
	}
	return v + " " + bi.GoVersion
}

// usageError is a mistake in the command line: reported in one line, exit
// status 2, nothing started.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitStatus carries a job's exit code, already reported by the launcher.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newApp(stdout, stderr io.Writer) *cli.App {
	finishRunCommand()
	onUsage := func(c *cli.Context, err error, sub bool) error {
		if sub && c.Command != nil {
			return usagef("%s: %v (see `mpx %s --help`)", c.Command.Name, err, c.Command.Name)
		}
		return usagef("%v (see `mpx --help`)", err)
	}
	for _, cmd := range commands {
		cmd.OnUsageError = onUsage
	}
	return &cli.App{
		Name:      "mpx",
		Usage:     "run and inspect MPI-style message-passing jobs written in Go",
		Version:   versionString(),
		Commands:  commands,
		Writer:    stdout,
		ErrWriter: stderr,
		// -x and --param values may contain commas.
		DisableSliceFlagSeparator: true,
		HideHelpCommand:           true,
		OnUsageError:              onUsage,
		// Exit codes are decided in main, not inside the library.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see `mpx --help`)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// mainExit runs the command line args and returns the process's exit code.
func mainExit(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(args)
	var ue *usageError
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mpx: %v\n", ue)
		return 2
	}
	fmt.Fprintf(stderr, "mpx: %v\n", err)
	return 1
}

func main() {
	os.Exit(mainExit(os.Args, os.Stdout, os.Stderr))
}
