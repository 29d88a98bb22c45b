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
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// BenchmarkPingPong runs the two ping-pongs in alternating rounds of a
// few hundred round trips, so that both meet the same machine: the
// machines are shared and their speed drifts within seconds. It reports
// the medians over rounds of each one's half round trip and of the ratio
// between them (mpx/raw, paired by round).
func BenchmarkPingPong(b *testing.B) {
	w := startCommPeer(b)
	c := startRawPeer(b)
	// comm.Init gave this rank its share of the cores, as for any two
	// ranks on a node, but the testing package resets GOMAXPROCS for each
	// benchmark: give it back (the raw side runs under the same).
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(max(1, goruntime.NumCPU()/2)))
	for _, n := range pingSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			buf := make([]byte, n)
			per := 200 // round trips per round: some milliseconds
			if n >= 1<<20 {
				per = 20
			}
			var mpxUS, rawUS, ratio []float64
			b.SetBytes(int64(2 * n))
			b.ResetTimer()
			for done := 0; done < b.N; done += per {
				k := min(per, b.N-done)
				m := pingComm(b, w, buf, k)
				r := pingRaw(b, c, buf, k)
				mpxUS, rawUS = append(mpxUS, m), append(rawUS, r)
				ratio = append(ratio, m/r)
			}
			b.StopTimer()
			b.ReportMetric(median(mpxUS), "mpx-us")
			b.ReportMetric(median(rawUS), "raw-us")
			b.ReportMetric(median(ratio), "mpx/raw")
			b.ReportMetric(float64(len(ratio)), "rounds")
		})
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startCommPeer makes this process rank 0 of a two-rank job whose rank 1
// is a child copy of the test binary, both over TCP.
func startCommPeer(b *testing.B) *comm.Comm {
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
	return commPeer.world
}

// pingComm makes k round trips of buf with rank 1 and returns the mean
// half round trip in microseconds.
func pingComm(b *testing.B, w *comm.Comm, buf []byte, k int) float64 {
	if err := comm.Send(w, []int64{int64(len(buf)), int64(k)}, 1, 0); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < k; i++ {
		if err := comm.Send(w, buf, 1, 1); err != nil {
			b.Fatal(err)
		}
		if _, err := comm.Recv(w, buf, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(k) / 2 / 1000
}

func commChild() int {
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	cmd := make([]int64, 2)
	var keep []byte
	for {
		if _, err := comm.Recv(w, cmd, 0, 0); err != nil {
			// The parent ends the benchmark by exiting; that is the normal end.
			return 0
		}
		buf := grow(&keep, int(cmd[0]))
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

// startRawPeer connects to a child copy of the test binary that echoes on
// a bare TCP connection.
func startRawPeer(b *testing.B) *net.TCPConn {
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
	return rawPeer.conn
}

// pingRaw is pingComm on the bare connection.
func pingRaw(b *testing.B, c *net.TCPConn, buf []byte, k int) float64 {
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(buf)))
	binary.LittleEndian.PutUint64(hdr[8:], uint64(k))
	if _, err := c.Write(hdr); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < k; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(k) / 2 / 1000
}

func rawChild() int {
	c, err := net.Dial("tcp", os.Getenv("MPX_TEST_RAW_ADDR"))
	if err != nil {
		return 1
	}
	c.(*net.TCPConn).SetNoDelay(true)
	hdr := make([]byte, 16)
	var keep []byte
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return 0
		}
		buf := grow(&keep, int(binary.LittleEndian.Uint64(hdr[:8])))
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

// grow returns n bytes of *keep, enlarging it if needed: a child serves
// many rounds and should not fault in a fresh buffer for each.
func grow(keep *[]byte, n int) []byte {
	if cap(*keep) < n {
		*keep = make([]byte, n)
	}
	return (*keep)[:n]
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n) + "B"
}
