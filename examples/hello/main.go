// Command hello is the smallest mpx program: every rank says who it is.
//
//	mpx run -n 4 ./examples/hello
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	world, err := comm.Init()
	if err != nil {
		log.Fatal(err)
	}
	host, _ := os.Hostname()
	fmt.Printf("hello from rank %d of %d on %s\n", world.Rank(), world.Size(), host)
	if err := world.Finalize(); err != nil {
		log.Fatal(err)
	}
}
