package comm_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/runtime/bootstrap"
)

// The ping-pong benchmarks of the foundation issue: mpx over TCP between two
// processes, beside a raw Go TCP ping-pong on loopback measured in the same
// run. This process is rank 0; a child copy of the test binary is rank 1.
//
//	go test -run '^$' -bench PingPong -count 5 ./comm

const childEnv = "MPX_TEST_PINGPONG_CHILD"

var pingSizes = []int{8, 1 << 20}

type peer struct {
	once  sync.Once
	err   error
	cmd   *exec.Cmd
	world *comm.Comm
	conn  *net.TCPConn
}

var commPeer, rawPeer peer

func startChild(b *testing.B, role string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

// BenchmarkPingPongMPX: half round trip through comm.Send/Recv over TCP.
func BenchmarkPingPongMPX(b *testing.B) {
	commPeer.once.Do(func() {
		secret := []byte("pingpong-benchmark-secret")
		srv, err := bootstrap.NewServer(2, secret, nil)
		if err == nil {
			err = srv.Listen("")
		}
		if err != nil {
			commPeer.err = err
			return
		}
		env := func(rank int) bootstrap.Env {
			return bootstrap.Env{Rank: rank, Size: 2, LocalSize: 2, LocalRank: rank, JobID: "bench", KVAddr: srv.Addr(), Secret: secret}
		}
		// Both ranks are on this node, where auto would pick shared
		// memory: the figure wanted here is TCP's.
		force := param.EnvName("transport") + "=tcp"
		commPeer.cmd = startChild(b, "comm", append(env(1).Environ(), force)...)
		for _, kv := range append(env(0).Environ(), force) {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
		os.Setenv(bootstrap.EnvSecret, hex.EncodeToString(secret))
		commPeer.world, commPeer.err = comm.Init()
	})
	if commPeer.err != nil {
		b.Fatal(commPeer.err)
	}
	w := commPeer.world
	for _, n := range pingSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			buf := make([]byte, n)
			if err := comm.Send(w, []int64{int64(n), int64(b.N)}, 1, 0); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := comm.Send(w, buf, 1, 1); err != nil {
					b.Fatal(err)
				}
				if _, err := comm.Recv(w, buf, 1, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1000, "us/half-rtt")
			b.ReportMetric(float64(goruntime.GOMAXPROCS(0)), "procs")
		})
	}
}

func commChild() int {
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	cmd := make([]int64, 2)
	for {
		if _, err := comm.Recv(w, cmd, 0, 0); err != nil {
			// The parent ends the benchmark by exiting; that is the normal end.
			return 0
		}
		buf := make([]byte, cmd[0])
		for i := int64(0); i < cmd[1]; i++ {
			if _, err := comm.Recv(w, buf, 0, 1); err != nil {
				return 1
			}
			if err := comm.Send(w, buf, 0, 1); err != nil {
				return 1
			}
		}
	}
}

// BenchmarkPingPongRawTCP: the same exchange on a bare net.TCPConn.
func BenchmarkPingPongRawTCP(b *testing.B) {
	rawPeer.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			rawPeer.err = err
			return
		}
		defer ln.Close()
		rawPeer.cmd = startChild(b, "raw", "MPX_TEST_RAW_ADDR="+ln.Addr().String())
		c, err := ln.Accept()
		if err != nil {
			rawPeer.err = err
			return
		}
		rawPeer.conn = c.(*net.TCPConn)
		rawPeer.conn.SetNoDelay(true)
	})
	if rawPeer.err != nil {
		b.Fatal(rawPeer.err)
	}
	c := rawPeer.conn
	for _, n := range pingSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			buf := make([]byte, n)
			hdr := make([]byte, 16)
			binary.LittleEndian.PutUint64(hdr[:8], uint64(n))
			binary.LittleEndian.PutUint64(hdr[8:], uint64(b.N))
			if _, err := c.Write(hdr); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1000, "us/half-rtt")
			b.ReportMetric(float64(goruntime.GOMAXPROCS(0)), "procs")
		})
	}
}

func rawChild() int {
	c, err := net.Dial("tcp", os.Getenv("MPX_TEST_RAW_ADDR"))
	if err != nil {
		return 1
	}
	c.(*net.TCPConn).SetNoDelay(true)
	hdr := make([]byte, 16)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return 0
		}
		buf := make([]byte, binary.LittleEndian.Uint64(hdr[:8]))
		for i := binary.LittleEndian.Uint64(hdr[8:]); i > 0; i-- {
			if _, err := io.ReadFull(c, buf); err != nil {
				return 1
			}
			if _, err := c.Write(buf); err != nil {
				return 1
			}
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n) + "B"
}
