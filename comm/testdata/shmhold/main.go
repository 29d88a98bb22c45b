// Command shmhold joins a job over shared memory, says so, then ends as
// -mode asks: ok (finalize), hang (wait for a message that never comes),
// die (rank 1 kills itself with SIGKILL while the others wait for it), or
// stuck (the last rank waits for a message that never comes while the
// others enter an allreduce it never joins). comm's launch tests use it to
// check that no /dev/shm file outlives a job, and what --timeout reports.
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	mode := flag.String("mode", "ok", "ok, hang, die or stuck")
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
	case "stuck":
		if w.Rank() == w.Size()-1 {
			comm.Recv(w, make([]byte, 1), 0, 99)
		}
		comm.Allreduce(w, []float64{1, 2, 3}, make([]float64, 3), comm.Sum)
	}
	w.Finalize()
}
