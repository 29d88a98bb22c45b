// Command rankprog is a rank program for the launcher's tests. It does
// wire-up with the bootstrap client directly (put its host name, fence,
// read every peer's), says it is wired up, fences again, then behaves as
// -mode says: the rank named by -rank misbehaves, the others finalize (and
// so wait for it).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpx-hpc/mpx/runtime/bootstrap"
)

func main() {
	mode := flag.String("mode", "ok", "ok, exit, kill, panic, nofinalize, noconnect, leave, abort, hang, stop (-rank stops itself with SIGSTOP, the others hang), sigwait")
	bad := flag.Int("rank", 1, "the rank that misbehaves")
	code := flag.Int("code", 3, "exit or abort code")
	env := flag.String("env", "", "comma-separated environment variables to print")
	ignoreTerm := flag.Bool("ignoreterm", false, "ranks other than -rank ignore SIGTERM and sleep instead of finalizing")
	spawn := flag.Bool("spawn", false, "every rank starts a child process that sleeps")
	shm := flag.Bool("shm", false, "every rank creates /dev/shm/mpx-<job id>-<rank>, as the shm transport would")
	pwd := flag.Bool("pwd", false, "print the working directory")
	flag.Parse()

	e, ok, err := bootstrap.FromEnviron(os.Getenv)
	if err != nil {
		fail(err)
	}
	if !ok {
		fmt.Println("singleton")
		return
	}
	me := e.Rank
	if *ignoreTerm && me != *bad {
		signal.Ignore(syscall.SIGTERM)
	}
	if *mode == "sigwait" {
		signal.Ignore(syscall.SIGTERM) // only SIGINT ends it
	}
	if *mode == "noconnect" && me == *bad {
		os.Exit(0)
	}
	if *spawn {
		child := exec.Command("sleep", "60")
		if err := child.Start(); err != nil {
			fail(err)
		}
	}
	if *shm {
		if err := os.WriteFile(fmt.Sprintf("/dev/shm/mpx-%s-%d", e.JobID, me), []byte("segment"), 0o600); err != nil {
			fail(err)
		}
	}
	c, err := bootstrap.Dial(e.KVAddr, e.Secret, me)
	if err != nil {
		fail(err)
	}
	host, _ := os.Hostname()
	if err := c.Put(fmt.Sprintf("host/%d", me), []byte(host)); err != nil {
		fail(err)
	}
	if err := c.Fence(); err != nil {
		fail(err)
	}
	for p := range e.Size {
		if _, err := c.Get(fmt.Sprintf("host/%d", p)); err != nil {
			fail(err)
		}
	}
	if *pwd {
		dir, _ := os.Getwd()
		fmt.Printf("rank %d: cwd %s\n", me, dir)
	}
	if *env != "" {
		for _, name := range strings.Split(*env, ",") {
			fmt.Printf("rank %d: %s=%s\n", me, name, os.Getenv(name))
		}
	}
	fmt.Printf("rank %d of %d: wired up\n", me, e.Size)
	// Every rank has said so before any misbehaves, so that a test may
	// expect every rank's line even when one fails the job.
	if err := c.Fence(); err != nil {
		fail(err)
	}

	if *mode == "stop" {
		if me == *bad {
			syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		}
		*mode = "hang"
	}
	if me == *bad || *mode == "hang" || *mode == "sigwait" {
		switch *mode {
		case "exit":
			fmt.Fprintf(os.Stderr, "rank %d: exiting with status %d\n", me, *code)
			os.Exit(*code)
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "panic":
			fmt.Printf("rank %d: about to panic\n", me)
			var m map[string]int
			m["deliberate"]++ // a nil map write: a runtime panic with a stack
		case "nofinalize":
			os.Exit(0)
		case "leave":
			c.Close()
			time.Sleep(time.Minute)
		case "abort":
			if err := c.Abort(*code, "deliberate abort"); err != nil {
				fail(err)
			}
			time.Sleep(time.Minute)
		case "hang":
			since := time.Now()
			c.OnReport(func() string {
				return fmt.Sprintf("Recv comm=world src=%d tag=7 for %v", (me+1)%e.Size, time.Since(since).Round(time.Second))
			})
			fmt.Printf("rank %d: hanging\n", me)
			time.Sleep(time.Minute)
		case "sigwait":
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGINT)
			fmt.Printf("rank %d: waiting for SIGINT\n", me)
			<-ch
			fmt.Printf("rank %d: got SIGINT\n", me)
			os.Exit(130)
		}
	}
	if *ignoreTerm {
		time.Sleep(time.Minute)
	}
	if err := c.Finalize(); err != nil {
		fail(err)
	}
	c.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rankprog:", err)
	os.Exit(1)
}
