package comm_test

import (
	"fmt"
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
	"github.com/mpx-hpc/mpx/param"
)

// BenchmarkAllreduce times one allreduce of 8 B and 1 MiB of float64 on 2
// and 4 in-process ranks with each algorithm forced by its parameter.
func BenchmarkAllreduce(b *testing.B) {
	defer param.Unset("coll_allreduce_algorithm")
	for _, alg := range []string{"recursive_doubling", "ring", "rabenseifner", "ordered"} {
		for _, bytes := range []int{8, 1 << 20} {
			for _, p := range []int{2, 4} {
				b.Run(fmt.Sprintf("%s/%dB/p=%d", alg, bytes, p), func(b *testing.B) {
					if err := param.Set("coll_allreduce_algorithm", alg); err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(bytes))
					n := bytes / 8
					err := commtest.Run(p, func(c *comm.Comm) error {
						send, recv := make([]float64, n), make([]float64, n)
						for i := range send {
							send[i] = float64(c.Rank() + i)
						}
						if err := comm.Barrier(c); err != nil {
							return err
						}
						if c.Rank() == 0 {
							b.ResetTimer()
						}
						for i := 0; i < b.N; i++ {
							if err := comm.Allreduce(c, send, recv, comm.Sum); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				})
			}
		}
	}
}
