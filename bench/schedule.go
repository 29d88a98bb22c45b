package bench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mpx-hpc/mpx/param"
)

// Options fix what a test measures: the sizes and the iteration schedule.
// Defaults gives the OSU micro-benchmarks' values for a test; the zero value
// is not usable.
type Options struct {
	// MinSize and MaxSize bound the message sizes in bytes; the sizes are
	// MinSize (or 0), then every power of two from max(MinSize,1) to MaxSize.
	MinSize int `json:"min_size"`
	MaxSize int `json:"max_size"`
	// Iters and Warmup are the timed and untimed iterations below
	// LargeSize; ItersLarge and WarmupLarge from LargeSize up.
	Iters       int `json:"iterations"`
	Warmup      int `json:"warmup"`
	ItersLarge  int `json:"iterations_large"`
	WarmupLarge int `json:"warmup_large"`
	// LargeSize is where the schedule switches to the large counts (OSU:
	// 8 KiB).
	LargeSize int `json:"large_size"`
	// Window is the number of non-blocking sends in flight per iteration of
	// the bandwidth tests (OSU: 64).
	Window int `json:"window"`
	// Progress, when not nil, is called on rank 0 after each size with the
	// number of sizes done and the total.
	Progress func(done, total int) `json:"-"`
}

// OSU's split between small and large messages.
const osuLargeSize = 8 << 10

// Defaults returns the OSU schedule for a test family: latency 10000/1000
// iterations (warm-up 100/10) below/from 8 KiB up to 4 MiB; bandwidth
// 100/20 windows of 64 (warm-up 10/2); collectives 1000/100 (warm-up
// 200/10) up to 1 MiB. The bandwidth tests start at 1 byte, reductions at 4
// (one float32), the others at 0.
func Defaults(t *Test) Options {
	o := Options{MaxSize: 4 << 20, LargeSize: osuLargeSize, Window: 64}
	switch t.Family {
	case FamilyLatency:
		o.Iters, o.Warmup, o.ItersLarge, o.WarmupLarge = 10000, 100, 1000, 10
	case FamilyBandwidth:
		o.MinSize = 1
		o.Iters, o.Warmup, o.ItersLarge, o.WarmupLarge = 100, 10, 20, 2
	case FamilyCollective:
		o.MaxSize = 1 << 20
		o.Iters, o.Warmup, o.ItersLarge, o.WarmupLarge = 1000, 200, 100, 10
	}
	if t.Reduction {
		o.MinSize = 4
	}
	if t.Name == "barrier" {
		o.MinSize, o.MaxSize = 0, 0
	}
	if fixedSize(t) {
		o.MinSize, o.MaxSize = 8, 8
	}
	return o
}

// Check reports options that cannot be run.
func (o Options) Check() error {
	switch {
	case o.MinSize < 0 || o.MaxSize < o.MinSize:
		return fmt.Errorf("message sizes %d:%d: want 0 <= min <= max", o.MinSize, o.MaxSize)
	case o.MaxSize > 1<<30:
		return fmt.Errorf("maximum message size %d is above 1 GiB", o.MaxSize)
	case o.Iters < 1 || o.ItersLarge < 1:
		return fmt.Errorf("iterations %d:%d: want at least 1", o.Iters, o.ItersLarge)
	case o.Warmup < 0 || o.WarmupLarge < 0:
		return fmt.Errorf("warm-up iterations %d:%d: want at least 0", o.Warmup, o.WarmupLarge)
	case o.Window < 1:
		return fmt.Errorf("window %d: want at least 1", o.Window)
	}
	return nil
}

// Sizes lists the message sizes of a sweep: MinSize itself when it is not a
// power of two (OSU starts latency at 0), then the powers of two from
// MinSize up to MaxSize.
func (o Options) Sizes() []int {
	var sizes []int
	p := 1
	for p < o.MinSize {
		p <<= 1
	}
	if o.MinSize != p {
		sizes = append(sizes, o.MinSize)
	}
	for ; p <= o.MaxSize; p <<= 1 {
		sizes = append(sizes, p)
	}
	return sizes
}

// Schedule returns the timed and warm-up iterations for size.
func (o Options) Schedule(size int) (iters, warmup int) {
	if size >= o.LargeSize {
		return o.ItersLarge, o.WarmupLarge
	}
	return o.Iters, o.Warmup
}

// ParseRange reads the -m argument in OSU's forms: "max", "min:max", "min:"
// or ":max", each number a size with an optional k, m or g suffix. Missing
// ends keep the values in o.
func ParseRange(s string, o *Options) error {
	lo, hi, isRange := strings.Cut(s, ":")
	if !isRange {
		lo, hi = "", s
	}
	if lo != "" {
		n, err := param.ParseSize(lo)
		if err != nil {
			return fmt.Errorf("-m %q: minimum: %w", s, err)
		}
		o.MinSize = n
	}
	if hi != "" {
		n, err := param.ParseSize(hi)
		if err != nil {
			return fmt.Errorf("-m %q: maximum: %w", s, err)
		}
		o.MaxSize = n
	}
	if o.MaxSize < o.MinSize {
		return fmt.Errorf("-m %q: minimum %d above maximum %d", s, o.MinSize, o.MaxSize)
	}
	return nil
}

// ParseCounts reads the -i and -x arguments: "N" sets the count for every
// size, "N:L" sets small and large message counts apart.
func ParseCounts(s string) (small, large int, err error) {
	a, b, two := strings.Cut(s, ":")
	small, err = strconv.Atoi(a)
	if err != nil || small < 0 {
		return 0, 0, fmt.Errorf("%q: want N or N:L, non-negative integers", s)
	}
	if !two {
		return small, small, nil
	}
	large, err = strconv.Atoi(b)
	if err != nil || large < 0 {
		return 0, 0, fmt.Errorf("%q: want N or N:L, non-negative integers", s)
	}
	return small, large, nil
}
