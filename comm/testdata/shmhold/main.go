// Command shmhold joins a job over shared memory, says so, then ends as
// -mode asks: ok (finalize), hang (wait for a message that never comes), or
// die (rank 1 kills itself with SIGKILL while the others wait for it).
// comm's launch tests use it to check that no /dev/shm file outlives a job.
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	mode := flag.String("mode", "ok", "ok, hang or die")
	flag.Parse()
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := comm.Barrier(w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("job %s rank %d ready\n", os.Getenv("MPX_JOB_ID"), w.Rank())
	comm.Barrier(w)
	switch *mode {
	case "hang":
		comm.Recv(w, make([]byte, 1), (w.Rank()+1)%w.Size(), 99)
	case "die":
		if w.Rank() == 1 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		comm.Recv(w, make([]byte, 1), 1, 99)
	}
	w.Finalize()
}
