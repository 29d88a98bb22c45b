package comm_test

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// fill writes a pattern that depends on seed and position, so a payload
// from the wrong message or offset is caught.
func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
}

func check(b []byte, seed int) error {
	for i := range b {
		if want := byte(seed*31 + i*7 + i>>8); b[i] != want {
			return fmt.Errorf("byte %d of %d: got %d, want %d (seed %d)", i, len(b), b[i], want, seed)
		}
	}
	return nil
}

var protocols = []struct {
	name string
	opts commtest.Options
}{
	{"rts-cts", commtest.Options{}},
	{"single-copy", commtest.Options{Local: comm.LocalOptions{SingleCopy: true}}},
	{"small-eager", commtest.Options{Local: comm.LocalOptions{EagerLimit: 16}}},
}

func TestSendRecvSizes(t *testing.T) {
	sizes := []int{0, 1, 7, 16, 17, 4096, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1 << 20, 8 << 20}
	for _, p := range protocols {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", p.name, n), func(t *testing.T) {
				err := commtest.RunWith(2, p.opts, func(c *comm.Comm) error {
					if c.Rank() == 0 {
						b := make([]byte, n)
						fill(b, n)
						return comm.Send(c, b, 1, 5)
					}
					b := make([]byte, n+3)
					st, err := comm.Recv(c, b, 0, 5)
					if err != nil {
						return err
					}
					if st.Source != 0 || st.Tag != 5 || st.Count != n || st.Bytes != n {
						return fmt.Errorf("status %+v, want source 0 tag 5 count %d", st, n)
					}
					return check(b[:n], n)
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestTypedCount(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		if c.Rank() == 0 {
			return comm.Send(c, []float64{1.5, -2, 3e300}, 1, 0)
		}
		b := make([]float64, 10)
		st, err := comm.Recv(c, b, comm.AnySource, comm.AnyTag)
		if err != nil {
			return err
		}
		if st.Count != 3 || st.Bytes != 24 || b[0] != 1.5 || b[1] != -2 || b[2] != 3e300 {
			return fmt.Errorf("got %v status %+v", b[:3], st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Messages between a pair on one communicator do not overtake, whatever
// their sizes and protocols.
func TestNonOvertaking(t *testing.T) {
	sizes := []int{10, 200 << 10, 3, 1 << 20, 0, 70 << 10, 5}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			err := commtest.RunWith(2, p.opts, func(c *comm.Comm) error {
				if c.Rank() == 0 {
					var reqs []*comm.Request
					for i, n := range sizes {
						b := make([]byte, n)
						fill(b, i)
						r, err := comm.Isend(c, b, 1, 9)
						if err != nil {
							return err
						}
						reqs = append(reqs, r)
					}
					return comm.Waitall(reqs...)
				}
				time.Sleep(10 * time.Millisecond) // let them all arrive unexpected
				for i, n := range sizes {
					b := make([]byte, 1<<20)
					st, err := comm.Recv(c, b, 0, comm.AnyTag)
					if err != nil {
						return err
					}
					if st.Bytes != n {
						return fmt.Errorf("message %d: %d bytes, want %d", i, st.Bytes, n)
					}
					if err := check(b[:n], i); err != nil {
						return fmt.Errorf("message %d: %v", i, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	for _, n := range []int{100, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			err := commtest.Run(2, func(c *comm.Comm) error {
				if c.Rank() == 0 {
					if err := comm.Send(c, make([]byte, n), 1, 0); err != nil {
						return err
					}
					return comm.Send(c, []byte{42}, 1, 1) // the job goes on
				}
				_, err := comm.Recv(c, make([]byte, 10), 0, 0)
				var re *comm.RankError
				if !errors.Is(err, comm.ErrTruncate) || !errors.As(err, &re) || re.Op != "recv" || re.Peer != 0 {
					return fmt.Errorf("got %v, want a recv RankError wrapping ErrTruncate", err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%d-byte message into 10-byte buffer", n)) {
					return fmt.Errorf("message does not give the sizes: %v", err)
				}
				b := make([]byte, 1)
				if _, err := comm.Recv(c, b, 0, 1); err != nil || b[0] != 42 {
					return fmt.Errorf("after truncation: %v %v", b, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"send to 2", comm.Send(c, []int{1}, 2, 0), comm.ErrRank},
			{"send to -5", comm.Send(c, []int{1}, -5, 0), comm.ErrRank},
			{"send tag -1", comm.Send(c, []int{1}, 0, -1), comm.ErrTag},
			{"send tag huge", comm.Send(c, []int{1}, 0, comm.TagUB+1), comm.ErrTag},
			{"recv from 7", func() error { _, err := comm.Recv(c, []int{1}, 7, 0); return err }(), comm.ErrRank},
			{"recv tag -3", func() error { _, err := comm.Recv(c, []int{1}, 0, -3); return err }(), comm.ErrTag},
		}
		for _, tc := range cases {
			if !errors.Is(tc.err, tc.want) {
				return fmt.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProcNull(t *testing.T) {
	err := commtest.Run(1, func(c *comm.Comm) error {
		if err := comm.Send(c, []int{1}, comm.ProcNull, 0); err != nil {
			return err
		}
		st, err := comm.Recv(c, []int{1}, comm.ProcNull, 0)
		if err != nil || st.Source != comm.ProcNull {
			return fmt.Errorf("recv from ProcNull: %+v %v", st, err)
		}
		r, err := comm.Irecv(c, []int{1}, comm.ProcNull, 0)
		if err != nil {
			return err
		}
		_, err = r.Wait()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSelfSend(t *testing.T) {
	for _, n := range []int{8, 1 << 20} {
		err := commtest.Run(1, func(c *comm.Comm) error {
			out := make([]byte, n)
			fill(out, 3)
			r, err := comm.Isend(c, out, 0, 1)
			if err != nil {
				return err
			}
			in := make([]byte, n)
			if _, err := comm.Recv(c, in, 0, 1); err != nil {
				return err
			}
			if _, err := r.Wait(); err != nil {
				return err
			}
			return check(in, 3)
		})
		if err != nil {
			t.Fatal(n, err)
		}
	}
}

func TestAnySourceTestWaitany(t *testing.T) {
	const n = 5
	err := commtest.Run(n, func(c *comm.Comm) error {
		if c.Rank() != 0 {
			return comm.Send(c, []int32{int32(c.Rank())}, 0, 100+c.Rank())
		}
		bufs := make([][]int32, n-1)
		reqs := make([]*comm.Request, n-1)
		for i := range reqs {
			bufs[i] = make([]int32, 1)
			var err error
			if reqs[i], err = comm.Irecv(c, bufs[i], comm.AnySource, comm.AnyTag); err != nil {
				return err
			}
		}
		seen := map[int]bool{}
		for k := 0; k < n-1; k++ {
			i, st, err := comm.Waitany(reqs)
			if err != nil {
				return err
			}
			if reqs[i] != nil || st.Tag != 100+st.Source || int(bufs[i][0]) != st.Source || seen[st.Source] {
				return fmt.Errorf("waitany %d: status %+v value %d", i, st, bufs[i][0])
			}
			seen[st.Source] = true
		}
		if i, _, _ := comm.Waitany(reqs); i != -1 {
			return fmt.Errorf("Waitany on all-nil requests returned %d, want -1", i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProbe(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		if c.Rank() == 1 {
			return comm.Send(c, make([]float32, 33), 0, 7)
		}
		st, err := c.Probe(comm.AnySource, 7)
		if err != nil {
			return err
		}
		if st.Source != 1 || st.Bytes != 132 || comm.CountOf[float32](st) != 33 {
			return fmt.Errorf("probe status %+v", st)
		}
		ok, st2, err := c.Iprobe(1, 7)
		if !ok || err != nil || st2.Bytes != 132 {
			return fmt.Errorf("iprobe after probe: %v %+v %v", ok, st2, err)
		}
		if ok, _, _ := c.Iprobe(1, 8); ok {
			return errors.New("iprobe found a tag-8 message that was never sent")
		}
		_, err = comm.Recv(c, make([]float32, 33), 1, 7)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSendrecvRing(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		err := commtest.Run(n, func(c *comm.Comm) error {
			me := c.Rank()
			right, left := (me+1)%n, (me+n-1)%n
			out := []int64{int64(me) * 10}
			in := make([]int64, 1)
			st, err := comm.Sendrecv(c, out, right, 0, in, left, 0)
			if err != nil {
				return err
			}
			if in[0] != int64(left)*10 || st.Source != left {
				return fmt.Errorf("got %d from %d, want %d from %d", in[0], st.Source, left*10, left)
			}
			return nil
		})
		if err != nil {
			t.Fatal(n, err)
		}
	}
}

func TestSendValue(t *testing.T) {
	type cfg struct {
		Name  string
		Steps int
		Coef  []float64
	}
	err := commtest.Run(2, func(c *comm.Comm) error {
		if c.Rank() == 0 {
			return comm.SendValue(c, cfg{"cavity", 12, []float64{0.5, 2}}, 1, 3)
		}
		var got cfg
		if _, err := comm.RecvValue(c, &got, 0, 3); err != nil {
			return err
		}
		if got.Name != "cavity" || got.Steps != 12 || len(got.Coef) != 2 || got.Coef[1] != 2 {
			return fmt.Errorf("got %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPeerGone(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		if c.Rank() == 1 {
			return errors.New("rank 1 gives up")
		}
		_, err := comm.Recv(c, make([]byte, 4), 1, 0)
		if !errors.Is(err, comm.ErrPeerGone) {
			return fmt.Errorf("recv from a vanished peer: got %v, want ErrPeerGone", err)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "rank 1 gives up") || strings.Contains(err.Error(), "rank 0") {
		t.Fatalf("want only rank 1's error, got %v", err)
	}
}

func TestDeadlockReport(t *testing.T) {
	err := commtest.RunWith(2, commtest.Options{Timeout: 200 * time.Millisecond}, func(c *comm.Comm) error {
		_, err := comm.Recv(c, make([]byte, 4), 1-c.Rank(), 77)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "recv from rank 1, tag 77, on world") {
		t.Fatalf("want a report naming the blocked receive, got %v", err)
	}
}

// The stress test of the foundation issue: 4 ranks, 1000 messages of
// random sizes (0 B to 8 MiB) and random tags, any-source receives, every
// payload checked.
func TestStress(t *testing.T) {
	const ranks, total = 4, 1000
	rng := rand.New(rand.NewSource(1))
	type msg struct{ size, tag int }
	plan := make([][]msg, ranks) // plan[src] = messages src sends to its right neighbour
	for i := 0; i < total; i++ {
		src := i % ranks
		size := rng.Intn(2048)
		switch rng.Intn(50) {
		case 0:
			size = rng.Intn(8 << 20)
		case 1, 2, 3:
			size = rng.Intn(256 << 10)
		}
		plan[src] = append(plan[src], msg{size, rng.Intn(5)})
	}
	err := commtest.Run(ranks, func(c *comm.Comm) error {
		me := c.Rank()
		right, left := (me+1)%ranks, (me+ranks-1)%ranks
		var reqs []*comm.Request
		for i, m := range plan[me] {
			b := make([]byte, m.size)
			fill(b, me*10000+i)
			// the tag carries the index so any-source receives can check the payload
			r, err := comm.Isend(c, b, right, m.tag*100000+i)
			if err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
		buf := make([]byte, 8<<20)
		for range plan[left] {
			st, err := comm.Recv(c, buf, comm.AnySource, comm.AnyTag)
			if err != nil {
				return err
			}
			i := st.Tag % 100000
			if st.Source != left || i >= len(plan[left]) || plan[left][i].size != st.Bytes || plan[left][i].tag != st.Tag/100000 {
				return fmt.Errorf("unexpected message %+v", st)
			}
			if err := check(buf[:st.Bytes], left*10000+i); err != nil {
				return err
			}
		}
		return comm.Waitall(reqs...)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Wait after a Test that reported done, and Wait twice, return the same
// status instead of blocking.
func TestWaitAfterTest(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		if c.Rank() == 0 {
			return comm.Send(c, []int16{7, 8}, 1, 4)
		}
		r, err := comm.Irecv(c, make([]int16, 2), 0, 4)
		if err != nil {
			return err
		}
		for {
			done, st, err := r.Test()
			if err != nil {
				return err
			}
			if done {
				if st.Count != 2 || st.Source != 0 {
					return fmt.Errorf("Test status %+v", st)
				}
				break
			}
		}
		for i := 0; i < 2; i++ {
			st, err := r.Wait()
			if err != nil || st.Count != 2 || st.Tag != 4 {
				return fmt.Errorf("Wait %d after Test: %+v %v", i, st, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
