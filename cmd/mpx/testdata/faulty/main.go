// Command faulty is a comm program for the launcher's fault tests. Every
// rank wires up with every other (so that each link exists), says it is
// ready, then the rank named by -rank misbehaves as -fault says while the
// others wait for a message from it, under the default fatal error
// handler: they abort when its link breaks.
//
// Faults: kill (SIGKILL itself), panic, nofinalize (exit 0 without
// Finalize), stop (SIGSTOP itself). With -fault signals every rank instead
// counts SIGUSR1 and SIGUSR2, printing each, and finishes once it got one
// of each.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	fault := flag.String("fault", "kill", "kill, panic, nofinalize, stop or signals")
	bad := flag.Int("rank", 2, "the rank that misbehaves")
	flag.Parse()

	var sigs chan os.Signal
	if *fault == "signals" {
		// Before Init: the launcher may forward a signal as soon as the
		// rank runs.
		sigs = make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	}
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	me, n := w.Rank(), w.Size()
	for p := range n {
		if p == me {
			continue
		}
		in := make([]int32, 1)
		if _, err := comm.Sendrecv(w, []int32{int32(me)}, p, 1, in, p, 1); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := comm.Barrier(w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("rank %d: ready\n", me)

	if *fault == "signals" {
		got := map[os.Signal]int{}
		for got[syscall.SIGUSR1] == 0 || got[syscall.SIGUSR2] == 0 {
			s := <-sigs
			got[s]++
			fmt.Printf("rank %d: got %v\n", me, sigName(s))
		}
		comm.Barrier(w)
		w.Finalize()
		return
	}
	if me == *bad {
		switch *fault {
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "panic":
			var m map[string]int
			m["deliberate"]++ // a nil map write: a runtime panic
		case "nofinalize":
			os.Exit(0)
		case "stop":
			syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		default:
			fmt.Fprintf(os.Stderr, "faulty: unknown -fault %q\n", *fault)
			os.Exit(1)
		}
	}
	// Never sent: the faulty rank's fate ends this.
	comm.Recv(w, make([]byte, 1), *bad, 99)
	w.Finalize()
}

func sigName(s os.Signal) string {
	if s == syscall.SIGUSR1 {
		return "SIGUSR1"
	}
	return "SIGUSR2"
}
