package runtime

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/runtime/bootstrap"
	"github.com/mpx-hpc/mpx/transport"
)

type dropHandler struct{}

func (dropHandler) Alloc(h *transport.Header) []byte  { return make([]byte, h.PayloadLen()) }
func (dropHandler) Deliver(*transport.Header, []byte) {}
func (dropHandler) Fail(int, error)                   {}

// TestTCPListensWhereReachable: the ranks of a job that all share one node
// listen on 127.0.0.1 only, out of other machines' reach; those of a job
// spread over nodes listen where their peers can reach them.
func TestTCPListensWhereReachable(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []int // node id of each rank
		loopback bool  // listener and card on 127.0.0.1 only
	}{
		{"one node", []int{0, 0, 0}, true},
		{"two nodes", []int{0, 1, 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := len(tc.nodes)
			secret, _ := bootstrap.NewSecret()
			srv, err := bootstrap.NewServer(size, secret, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Listen(""); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			perNode := map[int]int{}
			for _, n := range tc.nodes {
				perNode[n]++
			}
			rts := make([]*Runtime, size)
			errs := make([]error, size)
			var wg sync.WaitGroup
			local := map[int]int{}
			for r, n := range tc.nodes {
				env := bootstrap.Env{Rank: r, Size: size, LocalRank: local[n], LocalSize: perNode[n], NodeID: n,
					JobID: "listentest", KVAddr: srv.Addr(), Secret: secret}
				local[n]++
				wg.Add(1)
				go func() {
					defer wg.Done()
					rts[r], errs[r] = Start(env, dropHandler{})
				}()
			}
			wg.Wait()
			for r, rt := range rts {
				if errs[r] != nil {
					t.Fatalf("rank %d: %v", r, errs[r])
				}
				rt.leaving.Store(true)
				defer rt.close()
			}
			for r, rt := range rts {
				ip := rt.tcp.Addr().(*net.TCPAddr).IP
				card := rt.tcp.Address()
				if tc.loopback {
					if !ip.Equal(net.IPv4(127, 0, 0, 1)) || strings.Count(card, ",") != 0 || !strings.HasPrefix(card, "127.0.0.1:") {
						t.Errorf("rank %d listens on %v and publishes %q; want 127.0.0.1 only", r, ip, card)
					}
				} else if !ip.IsUnspecified() {
					t.Errorf("rank %d of a job on two nodes listens on %v only", r, ip)
				}
			}
		})
	}
}
