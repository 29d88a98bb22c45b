package shm_test

import (
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/shm"
)

// printer prints the frames it receives.
type printer struct{ got int }

func (p *printer) Alloc(h *transport.Header) []byte { return make([]byte, h.PayloadLen()) }
func (p *printer) Deliver(h *transport.Header, payload []byte) {
	p.got++
	fmt.Printf("rank %d sent %q with tag %d\n", h.Source, payload, h.Tag)
}
func (p *printer) Fail(peer int, err error) { fmt.Println("rank", peer, "failed:", err) }

// Two ranks of one job, here in one process: each creates its segment,
// connects to the other's, seals its own (no file is left in /dev/shm from
// then on), and rank 0 sends a frame that rank 1 receives by polling.
func Example() {
	job := "example" + strconv.Itoa(os.Getpid())
	secret := []byte("job secret")
	recv := &printer{}
	var trs []*shm.Transport
	for rank, h := range []transport.Handler{&printer{}, recv} {
		tr, err := shm.New(shm.Config{Rank: rank, Size: 2, JobID: job, Secret: secret, Handler: h})
		if err != nil {
			log.Fatal(err)
		}
		defer tr.Close()
		trs = append(trs, tr)
	}
	cards := map[int]string{0: trs[0].Address(), 1: trs[1].Address()}
	for _, tr := range trs {
		if err := tr.ConnectAll(cards); err != nil {
			log.Fatal(err)
		}
	}
	// In a job, a fence separates every rank's ConnectAll from any Seal.
	for _, tr := range trs {
		if err := tr.Seal(); err != nil {
			log.Fatal(err)
		}
	}
	ep, err := trs[0].Endpoint(1, cards[1])
	if err != nil {
		log.Fatal(err)
	}
	h := transport.Header{Kind: transport.KindEager, Source: 0, Tag: 7, Len: 5}
	if err := ep.Send(&h, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	for recv.got == 0 {
		trs[1].Poll()
	}
	// Output: rank 0 sent "hello" with tag 7
}
