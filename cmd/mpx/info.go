package main

import (
	"fmt"
	"io"
	goruntime "runtime"
	"strings"
	"text/tabwriter"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/param"
	mpxruntime "github.com/mpx-hpc/mpx/runtime"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "info",
		Usage: "print the version, the transports and every tunable parameter",
		Description: `Every parameter is listed with its default, its current value and where that
value comes from: default, env (MPX_PARAM_<NAME>), file (the tuning file named
by MPX_TUNE_FILE) or set. Set one for a job with mpx run --param name=value.`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("info: unexpected argument %q", c.Args().First())
			}
			if err := param.Check(); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "mpx: warning: %v\n", err)
			}
			return writeInfo(c.App.Writer)
		},
	})
}

func writeInfo(w io.Writer) error {
	fmt.Fprintf(w, "mpx %s (%s/%s, %d cores)\n\n", versionString(), goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU())
	fmt.Fprintln(w, "Transports:")
	writeTransports(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Point-to-point protocol (per transport; p2p_eager_limit overrides when set):")
	writeProtocols(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Collective algorithms (coll_<name>_algorithm forces one):")
	writeAlgorithms(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Parameters:")
	return writeParams(w)
}

// writeTransports lists the transports this binary has and how each would
// be used on this machine (for tcp, the interface and address chosen).
func writeTransports(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range mpxruntime.Transports() {
		avail := "available"
		if !t.Available {
			avail = "unavailable"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Name, avail, t.Detail)
	}
	tw.Flush()
}

// writeProtocols prints where each transport switches from eager to
// rendezvous.
func writeProtocols(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range mpxruntime.Transports() {
		big := "rendezvous: RTS, CTS, then the payload straight into the posted buffer"
		switch t.Name {
		case "shm":
			big = "rendezvous: the receiver copies from the sender's memory (process_vm_readv) where allowed, else RTS/CTS through the rings"
		case "ucx":
			big = "rendezvous: the receiver reads the sender's registered buffer into the posted one (ucp_get_nbx; ucx_single_copy), else RTS/CTS with UCP's zero-copy rendezvous"
		}
		fmt.Fprintf(tw, "  %s\teager up to %s\t%s\n", t.Name, param.FormatSize(t.EagerLimit), big)
	}
	tw.Flush()
}

// writeAlgorithms prints the collective decision table.
func writeAlgorithms(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  COLLECTIVE\tALGORITHM\tWHEN")
	for _, r := range comm.AlgorithmTable() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Collective, r.Algorithm, r.When)
	}
	tw.Flush()
}

func writeParams(w io.Writer) error {
	all := param.All()
	if len(all) == 0 {
		_, err := fmt.Fprintln(w, "  (none registered in this binary)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tVALUE\tSOURCE\tDESCRIPTION")
	for _, p := range all {
		help := p.Help
		if len(p.Choices) > 0 {
			help += " (" + strings.Join(p.Choices, ", ") + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, show(p.Default), show(p.Value), p.Source, help)
	}
	return tw.Flush()
}

// show makes an empty value visible in the table.
func show(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
