// Command p2pcheck exercises point-to-point messaging between real
// processes; comm's launch tests run it through `mpx run` over each
// transport. Every rank checks what it receives; rank 0 prints one summary.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

func pattern(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
}

func verify(b []byte, seed int) error {
	for i := range b {
		if want := byte(seed*31 + i*7 + i>>8); b[i] != want {
			return fmt.Errorf("byte %d of %d: got %d, want %d (message %d)", i, len(b), b[i], want, seed)
		}
	}
	return nil
}

func main() {
	msgs := flag.Int("messages", 1000, "messages in the stress phase (over all ranks)")
	maxSize := flag.Int("max", 8<<20, "largest message of the stress phase")
	flag.Parse()
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2pcheck:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	if err := run(w, *msgs, *maxSize); err != nil {
		fmt.Fprintf(os.Stderr, "p2pcheck rank %d: %v\n", w.Rank(), err)
		os.Exit(1)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "p2pcheck:", err)
		os.Exit(1)
	}
}

func run(w *comm.Comm, total, maxSize int) error {
	me, n := w.Rank(), w.Size()
	right, left := (me+1)%n, (me+n-1)%n

	// Sizes across the eager/rendezvous boundary, both directions at once.
	for i, size := range []int{0, 1, 8, 4096, 64 << 10, 64<<10 + 1, 1 << 20, 4 << 20} {
		out, in := make([]byte, size), make([]byte, size)
		pattern(out, me*100+i)
		st, err := comm.Sendrecv(w, out, right, i, in, left, i)
		if err != nil {
			return fmt.Errorf("sendrecv %d bytes: %w", size, err)
		}
		if st.Source != left || st.Bytes != size {
			return fmt.Errorf("sendrecv %d bytes: status %+v", size, st)
		}
		if err := verify(in, left*100+i); err != nil {
			return err
		}
	}

	// A receive buffer too small: a truncation error, and the job goes on.
	if me == 0 && n > 1 {
		_, err := comm.Recv(w, make([]byte, 4), 1, 99)
		if !errors.Is(err, comm.ErrTruncate) {
			return fmt.Errorf("short receive: got %v, want ErrTruncate", err)
		}
	}
	if me == 1 {
		if err := comm.Send(w, make([]byte, 100), 0, 99); err != nil {
			return err
		}
	}

	// Stress: random sizes and tags to the right neighbour, any-source
	// receives, every payload checked through the tag's message index.
	rng := rand.New(rand.NewSource(42))
	plan := make([][]int, n)
	tags := make([][]int, n)
	for i := 0; i < total; i++ {
		size := rng.Intn(2048)
		switch rng.Intn(40) {
		case 0:
			size = rng.Intn(maxSize + 1)
		case 1, 2, 3:
			size = rng.Intn(256 << 10)
		}
		plan[i%n] = append(plan[i%n], size)
		tags[i%n] = append(tags[i%n], rng.Intn(7))
	}
	var reqs []*comm.Request
	for i, size := range plan[me] {
		b := make([]byte, size)
		pattern(b, me*100000+i)
		r, err := comm.Isend(w, b, right, tags[me][i]*100000+i)
		if err != nil {
			return err
		}
		reqs = append(reqs, r)
	}
	buf := make([]byte, maxSize)
	for range plan[left] {
		st, err := comm.Recv(w, buf, comm.AnySource, comm.AnyTag)
		if err != nil {
			return err
		}
		i := st.Tag % 100000
		if st.Source != left || i >= len(plan[left]) || plan[left][i] != st.Bytes {
			return fmt.Errorf("unexpected message %+v", st)
		}
		if err := verify(buf[:st.Bytes], left*100000+i); err != nil {
			return err
		}
	}
	if err := comm.Waitall(reqs...); err != nil {
		return err
	}
	if me == 0 {
		fmt.Printf("p2pcheck: %d ranks, %d messages checked: ok\n", n, total)
	}
	return nil
}
