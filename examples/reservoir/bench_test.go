package main

import (
	"testing"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// BenchmarkFivespot measures one IMPES step (pressure solve and transport)
// of a 32×32×4 heterogeneous quarter five-spot on one and two ranks.
func BenchmarkFivespot(b *testing.B) {
	for _, ranks := range []int{1, 2} {
		b.Run(map[int]string{1: "1rank", 2: "2ranks"}[ranks], func(b *testing.B) {
			cfg, err := caseConfig("fivespot")
			if err != nil {
				b.Fatal(err)
			}
			cfg.NX, cfg.NY, cfg.NZ, cfg.Rock, cfg.Sinit = 32, 32, 4, "lognormal", 0
			cfg.Out, cfg.Snaps, cfg.PVI = "", nil, 10
			cfg.defaultWells(0)
			steps := 0
			err = commtest.Run(ranks, func(c *comm.Comm) error {
				procs, err := chooseProcs([3]int{cfg.NX, cfg.NY, cfg.NZ}, cfg.Procs, c.Size())
				if err != nil {
					return err
				}
				t, err := newCommTeam(c, procs)
				if err != nil {
					return err
				}
				s, err := newSim(&cfg, t)
				if err != nil {
					return err
				}
				if c.Rank() == 0 {
					b.ResetTimer()
				}
				red := []float64{0}
				for i := 0; i < b.N; i++ {
					if err := s.assemble(); err != nil {
						return err
					}
					its, err := s.solvePressure()
					if err != nil {
						return err
					}
					steps += its
					red[0] = s.cflStep()
					if err := t.minimum(red); err != nil {
						return err
					}
					s.transport(cfg.CFL * red[0])
					if err := s.halo(s.s); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(steps)/float64(ranks)/float64(b.N), "CG-iter/step")
		})
	}
}
