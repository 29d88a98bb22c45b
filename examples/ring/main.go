// Command ring passes a token around the ranks several times; each rank
// adds its rank number on every lap, and rank 0 checks the total.
//
//	mpx run -n 4 ./examples/ring -laps 10
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func main() {
	laps := flag.Int("laps", 10, "times the token goes around the ring")
	flag.Parse()
	if *laps < 1 {
		fmt.Fprintf(os.Stderr, "ring: -laps %d: want at least 1\n", *laps)
		os.Exit(2)
	}
	world, err := comm.Init()
	if err != nil {
		log.Fatal(err)
	}
	total, err := ring(world, *laps)
	if err != nil {
		log.Fatal(err)
	}
	if world.Rank() == 0 {
		fmt.Printf("ring: %d laps over %d ranks, token %d (expected %d): ok\n", *laps, world.Size(), total, expected(world.Size(), *laps))
	}
	if err := world.Finalize(); err != nil {
		log.Fatal(err)
	}
}

// expected is the token after laps laps: each lap adds 0+1+...+(n-1).
func expected(n, laps int) int64 { return int64(laps) * int64(n) * int64(n-1) / 2 }

// ring runs the laps and returns the final token (on rank 0; others return
// what they last forwarded). Rank 0 checks it and returns an error if wrong.
func ring(c *comm.Comm, laps int) (int64, error) {
	me, n := c.Rank(), c.Size()
	next, prev := (me+1)%n, (me+n-1)%n
	token := []int64{0}
	for lap := 0; lap < laps; lap++ {
		if me == 0 {
			if err := comm.Send(c, token, next, lap); err != nil {
				return 0, err
			}
			if _, err := comm.Recv(c, token, prev, lap); err != nil {
				return 0, err
			}
			continue
		}
		if _, err := comm.Recv(c, token, prev, lap); err != nil {
			return 0, err
		}
		token[0] += int64(me)
		if err := comm.Send(c, token, next, lap); err != nil {
			return 0, err
		}
	}
	if me == 0 && token[0] != expected(n, laps) {
		return token[0], fmt.Errorf("ring: token %d after %d laps over %d ranks, want %d", token[0], laps, n, expected(n, laps))
	}
	return token[0], nil
}
