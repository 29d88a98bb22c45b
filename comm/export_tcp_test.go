package comm

import (
	"fmt"
	goruntime "runtime"
	"strings"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
	"github.com/mpx-hpc/mpx/transport/tcp"
)

// TCPJob is an in-process job whose ranks are joined by tcp transports on
// loopback that stand by, as in a launched job over tcp (tcp_read=waiter):
// every wait reads its links itself. For tests of the socket paths without
// processes.
type TCPJob struct {
	Worlds []*Comm
	engs   []*p2p.Engine
	trs    []*tcp.Transport
}

// NewTCPJobForTest starts a TCPJob of n ranks; Close ends it.
func NewTCPJobForTest(n int) (*TCPJob, error) {
	j := &TCPJob{Worlds: make([]*Comm, n), engs: make([]*p2p.Engine, n), trs: make([]*tcp.Transport, n)}
	secret := []byte("tcp-job-for-test")
	for r := 0; r < n; r++ {
		eng, err := p2p.New(p2p.Config{Rank: r, Size: n, Oversubscribed: n > goruntime.NumCPU(),
			Resolve: func(peer int) (p2p.Peer, error) {
				ep, err := j.trs[r].Endpoint(peer, j.trs[peer].Address())
				return p2p.Peer{EP: ep, Limits: j.trs[r].Limits()}, err
			}})
		if err != nil {
			j.Close()
			return nil, err
		}
		j.engs[r] = eng
		if j.trs[r], err = tcp.New(tcp.Config{Rank: r, Size: n, Secret: secret, Handler: eng, Iface: "lo"}); err != nil {
			j.Close()
			return nil, err
		}
		if err := eng.AddStandby(j.trs[r]); err != nil {
			j.Close()
			return nil, err
		}
		life := &localLife{close: func() { j.trs[r].Close(); eng.Close() }, abort: func(int, string) {}}
		if j.Worlds[r], err = newWorldWith(eng, life); err != nil {
			j.Close()
			return nil, err
		}
		j.Worlds[r].errh = ErrorsReturn
	}
	return j, nil
}

// Close ends every rank: their pending operations fail.
func (j *TCPJob) Close() {
	for r := range j.engs {
		if j.trs[r] != nil {
			j.trs[r].Close()
		}
		if j.engs[r] != nil {
			j.engs[r].Close()
		}
	}
}

// Report says what each rank is blocked in, one line per rank.
func (j *TCPJob) Report() string {
	var b strings.Builder
	for r, e := range j.engs {
		fmt.Fprintf(&b, "rank %d: %s\n", r, e.Report(j.Worlds[r].w.contextName))
	}
	return b.String()
}
