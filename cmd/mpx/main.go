// Command mpx starts and inspects mpx jobs: `mpx run` (the mpirun of mpx),
// `mpx info`, and the subcommands other files add. It holds nothing but
// flag handling; the work is in the packages it calls.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

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
			name := commandPath(c)
			if msg := flagValueError(c.Command.Flags, err); msg != "" {
				return usagef("%s: %s", name, msg)
			}
			return usagef("%s: %v (see `mpx %s --help`)", name, err, name)
		}
		return usagef("%v (see `mpx --help`)", err)
	}
	setOnUsage(commands, onUsage)
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

// commandPath names the command c runs as typed after mpx: "bench compare
// latency".
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && (len(names) == 0 || names[0] != ctx.Command.Name) {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.TrimPrefix(strings.Join(names, " "), c.App.Name+" ")
}

// setOnUsage makes every command and subcommand report usage errors in one
// line; the library's default prints the whole help, once per level.
func setOnUsage(cmds []*cli.Command, f cli.OnUsageErrorFunc) {
	for _, cmd := range cmds {
		cmd.OnUsageError = f
		setOnUsage(cmd.Subcommands, f)
	}
}

// invalidValue is the flag package's message for a value that does not
// parse ("invalid value "abc" for flag -n: parse error").
var invalidValue = regexp.MustCompile(`^invalid value "(.*)" for flag -(\S+): `)

// flagWants says what value a flag takes, by flag name, for the names
// where the type alone says too little.
var flagWants = map[string]string{
	"n":          "a whole number of ranks",
	"np":         "a whole number of ranks",
	"npernode":   "a whole number of ranks per node",
	"N":          "a whole number of ranks per node",
	"window":     "a whole number of sends in flight",
	"W":          "a whole number of sends in flight",
	"repeat":     "a whole number of runs",
	"agent-port": "a port number",
}

// flagValueError rewrites a flag value's parse error as what the flag
// wants and what it got; "" when err is no such error.
func flagValueError(flags []cli.Flag, err error) string {
	m := invalidValue.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	got, name := m[1], m[2]
	want := flagWants[name]
	if want == "" {
		for _, f := range flags {
			if !slices.Contains(f.Names(), name) {
				continue
			}
			switch f := f.(type) {
			case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
				want = "a whole number"
			case *cli.Float64Flag:
				want = "a number"
			case *cli.DurationFlag:
				want = "a duration such as 90s, 1m30s or 2h"
			case *cli.BoolFlag:
				want = "true or false"
			case *cli.GenericFlag:
				if w, ok := f.Value.(interface{ wants() string }); ok {
					want = w.wants()
				}
			}
		}
	}
	if want == "" {
		return ""
	}
	dash := "--"
	if len(name) == 1 {
		dash = "-"
	}
	return fmt.Sprintf("%s%s wants %s, got %q", dash, name, want, got)
}

// mainExit runs the command line args and returns the process's exit code.
func mainExit(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args, err := expandMCA(args)
	if err == nil {
		err = app.Run(args)
	}
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
