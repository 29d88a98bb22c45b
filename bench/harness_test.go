package bench

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustTest(t testing.TB, name string) *Test {
	t.Helper()
	tt, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func TestSizes(t *testing.T) {
	cases := []struct {
		min, max int
		want     []int
	}{
		{0, 8, []int{0, 1, 2, 4, 8}},
		{1, 8, []int{1, 2, 4, 8}},
		{4, 64, []int{4, 8, 16, 32, 64}},
		{3, 16, []int{3, 4, 8, 16}},
		{0, 0, []int{0}},
		{5, 5, []int{5}},
		{8, 12, []int{8}},
		{1 << 20, 4 << 20, []int{1 << 20, 2 << 20, 4 << 20}},
	}
	for _, c := range cases {
		got := Options{MinSize: c.min, MaxSize: c.max}.Sizes()
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Sizes(%d:%d) = %v, want %v", c.min, c.max, got, c.want)
		}
	}
}

func TestDefaultsAndSchedule(t *testing.T) {
	cases := []struct {
		test                     string
		min, max                 int
		small, smallWarm         int
		large, largeWarm, window int
	}{
		{"latency", 0, 4 << 20, 10000, 100, 1000, 10, 64},
		{"bw", 1, 4 << 20, 100, 10, 20, 2, 64},
		{"mbw_mr", 1, 4 << 20, 100, 10, 20, 2, 64},
		{"allreduce", 4, 1 << 20, 1000, 200, 100, 10, 64},
		{"bcast", 0, 1 << 20, 1000, 200, 100, 10, 64},
		{"barrier", 0, 0, 1000, 200, 100, 10, 64},
	}
	for _, c := range cases {
		o := Defaults(mustTest(t, c.test))
		if err := o.Check(); err != nil {
			t.Errorf("%s defaults: %v", c.test, err)
		}
		if o.MinSize != c.min || o.MaxSize != c.max {
			t.Errorf("%s sizes %d:%d, want %d:%d", c.test, o.MinSize, o.MaxSize, c.min, c.max)
		}
		if i, w := o.Schedule(8191); i != c.small || w != c.smallWarm {
			t.Errorf("%s schedule(8191) = %d,%d, want %d,%d", c.test, i, w, c.small, c.smallWarm)
		}
		if i, w := o.Schedule(8192); i != c.large || w != c.largeWarm {
			t.Errorf("%s schedule(8192) = %d,%d, want %d,%d", c.test, i, w, c.large, c.largeWarm)
		}
		if o.Window != c.window {
			t.Errorf("%s window %d, want %d", c.test, o.Window, c.window)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	good := Defaults(mustTest(t, "latency"))
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"negative min", func(o *Options) { o.MinSize = -1 }, "sizes"},
		{"min above max", func(o *Options) { o.MinSize, o.MaxSize = 8, 4 }, "sizes"},
		{"huge", func(o *Options) { o.MaxSize = 2 << 30 }, "1 GiB"},
		{"no iterations", func(o *Options) { o.Iters = 0 }, "iterations"},
		{"negative warmup", func(o *Options) { o.WarmupLarge = -1 }, "warm-up"},
		{"no window", func(o *Options) { o.Window = 0 }, "window"},
	}
	for _, c := range cases {
		o := good
		c.mod(&o)
		err := o.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check() = %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		in       string
		min, max int
		err      bool
	}{
		{"1024", 4, 1024, false},
		{"0:64", 0, 64, false},
		{"8:", 8, 100, false},
		{":1m", 4, 1 << 20, false},
		{"1k:4k", 1024, 4096, false},
		{"64:8", 0, 0, true},
		{"x", 0, 0, true},
		{"1:y", 0, 0, true},
		{"2", 0, 0, true}, // below the kept minimum of 4
	}
	for _, c := range cases {
		o := Options{MinSize: 4, MaxSize: 100}
		err := ParseRange(c.in, &o)
		if (err != nil) != c.err {
			t.Errorf("ParseRange(%q) error %v, want error %v", c.in, err, c.err)
			continue
		}
		if !c.err && (o.MinSize != c.min || o.MaxSize != c.max) {
			t.Errorf("ParseRange(%q) = %d:%d, want %d:%d", c.in, o.MinSize, o.MaxSize, c.min, c.max)
		}
	}
}

func TestParseCounts(t *testing.T) {
	cases := []struct {
		in           string
		small, large int
		err          bool
	}{
		{"100", 100, 100, false},
		{"100:10", 100, 10, false},
		{"0", 0, 0, false},
		{"-1", 0, 0, true},
		{"1:", 0, 0, true},
		{"a:b", 0, 0, true},
	}
	for _, c := range cases {
		s, l, err := ParseCounts(c.in)
		if (err != nil) != c.err || s != c.small || l != c.large {
			t.Errorf("ParseCounts(%q) = %d, %d, %v; want %d, %d, error %v", c.in, s, l, err, c.small, c.large, c.err)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range Names() {
		tt, err := Lookup("osu_" + name)
		if err != nil || tt.Name != name {
			t.Errorf("Lookup(osu_%s) = %v, %v", name, tt, err)
		}
		if byTitle(tt.Title) != tt {
			t.Errorf("byTitle(%q) does not find %s", tt.Title, name)
		}
	}
	if _, err := Lookup("pingpong"); err == nil || !strings.Contains(err.Error(), "latency") {
		t.Errorf("Lookup(pingpong) = %v, want an error listing the tests", err)
	}
	if err := mustTest(t, "mbw_mr").CheckRanks(3); err == nil {
		t.Error("mbw_mr accepted 3 ranks")
	}
	if err := mustTest(t, "latency").CheckRanks(1); err == nil {
		t.Error("latency accepted 1 rank")
	}
	if err := mustTest(t, "allreduce").CheckRanks(5); err != nil {
		t.Errorf("allreduce on 5 ranks: %v", err)
	}
}

func TestWriteOSULayout(t *testing.T) {
	cases := []struct {
		test string
		impl string
		row  Row
		want []string
	}{
		{"latency", "mpx", Row{Size: 0, Value: 0.234},
			[]string{"# OSU-style MPX Latency Test", "# Size          Latency (us)", "0                       0.23"}},
		{"bw", "mpx", Row{Size: 4096, Value: 1234.5678},
			[]string{"# OSU-style MPX Bandwidth Test", "# Size      Bandwidth (MB/s)", "4096                 1234.57"}},
		{"mbw_mr", "Open MPI", Row{Size: 8, Value: 12.5, Rate: 1562500},
			[]string{"# OSU-style MPI Multiple Bandwidth / Message Rate Test", "# Size                  MB/s        Messages/s", "8                      12.50        1562500.00"}},
		{"allreduce", "mpx", Row{Size: 1024, Value: 5.5, Min: 5.25, Max: 6, Iters: 1000},
			[]string{"# OSU-style MPX Allreduce Latency Test", "# Size       Avg Latency(us)   Min Latency(us)   Max Latency(us)  Iterations", "1024                    5.50              5.25              6.00        1000"}},
		{"barrier", "mpx", Row{Value: 3.49, Min: 3, Max: 4, Iters: 100},
			[]string{"# OSU-style MPX Barrier Latency Test", "# Avg Latency(us)   Min Latency(us)   Max Latency(us)  Iterations", "             3.49              3.00              4.00         100"}},
	}
	for _, c := range cases {
		r := &Result{Test: c.test, Impl: c.impl, Level: LevelComm, Ranks: 2, Rows: []Row{c.row}}
		var b bytes.Buffer
		if err := WriteOSU(&b, r); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		if lines[0] != c.want[0] {
			t.Errorf("%s title %q, want %q", c.test, lines[0], c.want[0])
		}
		if got := lines[len(lines)-2:]; got[0] != c.want[1] || got[1] != c.want[2] {
			t.Errorf("%s table\n%q\nwant\n%q", c.test, got, c.want[1:])
		}
	}
}

func TestOSURoundTrip(t *testing.T) {
	for _, tt := range Tests() {
		r := &Result{Test: tt.Name, Impl: "mpx", Level: LevelTransport, Unit: tt.Unit(), Ranks: 4,
			Meta: Meta{Version: "v1.2.3", Transports: []string{"shm", "tcp"}}}
		for i, s := range Defaults(tt).Sizes()[:1] {
			r.Rows = append(r.Rows, Row{Size: s, Value: 1.25 + float64(i), Min: 1, Max: 2, Iters: 10})
		}
		if tt.MessageRate {
			r.Rows[0].Rate = 99.5
		}
		if tt.Family != FamilyCollective {
			r.Rows[0].Min, r.Rows[0].Max, r.Rows[0].Iters = 0, 0, 0
		}
		var b bytes.Buffer
		if err := WriteOSU(&b, r); err != nil {
			t.Fatal(err)
		}
		got, err := ParseOSU(&b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.Name, err, b.String())
		}
		got.Opts = r.Opts
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", tt.Name, got, r)
		}
	}
}

// The C port's real output (captured from Open MPI 4.1.4 runs of
// mpi/osu_mpx.c) parses into the same structure as the Go side's.
func TestParseCOutput(t *testing.T) {
	cases := []struct {
		file          string
		test          string
		ranks         int
		sizes         []int
		collective    bool
		rate          bool
		itersAtFirst  int
		libraryPrefix string
	}{
		{"openmpi_latency.txt", "latency", 2, []int{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, false, false, 0, "Open MPI"},
		{"openmpi_bw.txt", "bw", 2, []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, false, false, 0, "Open MPI"},
		{"openmpi_allreduce.txt", "allreduce", 4, []int{4, 8, 16, 32, 64, 128, 256}, true, false, 50, "Open MPI"},
		{"openmpi_mbw_mr.txt", "mbw_mr", 4, []int{1, 2, 4, 8, 16, 32, 64}, false, true, 0, "Open MPI"},
		{"openmpi_barrier.txt", "barrier", 3, []int{0}, true, false, 50, "Open MPI"},
	}
	for _, c := range cases {
		f, err := os.Open(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseOSU(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if r.Test != c.test || r.Ranks != c.ranks || r.Level != LevelMPI || r.Impl != "mpi" {
			t.Errorf("%s: test %s ranks %d level %s impl %s", c.file, r.Test, r.Ranks, r.Level, r.Impl)
		}
		if !strings.HasPrefix(r.Meta.MPIVersion, c.libraryPrefix) {
			t.Errorf("%s: library %q", c.file, r.Meta.MPIVersion)
		}
		var sizes []int
		for _, row := range r.Rows {
			sizes = append(sizes, row.Size)
			if row.Value <= 0 && row.Size > 1 {
				t.Errorf("%s: size %d value %v", c.file, row.Size, row.Value)
			}
			if c.collective && (row.Min > row.Value || row.Value > row.Max) {
				t.Errorf("%s: size %d min %v avg %v max %v out of order", c.file, row.Size, row.Min, row.Value, row.Max)
			}
			if c.rate && row.Rate <= 0 {
				t.Errorf("%s: size %d message rate %v", c.file, row.Size, row.Rate)
			}
		}
		if !reflect.DeepEqual(sizes, c.sizes) {
			t.Errorf("%s: sizes %v, want %v", c.file, sizes, c.sizes)
		}
		if r.Rows[0].Iters != c.itersAtFirst {
			t.Errorf("%s: iterations %d, want %d", c.file, r.Rows[0].Iters, c.itersAtFirst)
		}
	}
}

func TestParseOSUErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "no \"# OSU-style\""},
		{"row first", "0 1.0\n", "before"},
		{"unknown title", "# OSU-style MPX Frobnicate Test\n", "unknown test title"},
		{"two tables", "# OSU-style MPX Latency Test\n# OSU-style MPX Latency Test\n", "second table"},
		{"short row", "# OSU-style MPX Allreduce Latency Test\n4 1.0 2.0\n", "want 5 columns"},
		{"bad size", "# OSU-style MPX Latency Test\n-1 1.0\n", "size"},
		{"bad value", "# OSU-style MPX Latency Test\n1 abc\n", "not a non-negative number"},
		{"nan", "# OSU-style MPX Latency Test\n1 NaN\n", "not a non-negative number"},
		{"fraction iterations", "# OSU-style MPX Gather Latency Test\n4 1 1 1 1.5\n", "iterations"},
		{"bad ranks", "# OSU-style MPX Latency Test\n# ranks: none\n", "ranks"},
	}
	for _, c := range cases {
		_, err := ParseOSU(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ParseOSU error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 1, 100}, 2},
	}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		if got := Median(in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !reflect.DeepEqual(in, c.in) {
			t.Errorf("Median reordered its argument: %v", in)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestRatioAndMerge(t *testing.T) {
	lat, bw := mustTest(t, "latency"), mustTest(t, "bw")
	if r := Ratio(lat, 3, 2); r != 1.5 {
		t.Errorf("latency ratio %v, want mpx/MPI = 1.5", r)
	}
	if r := Ratio(bw, 1000, 4000); r != 4 {
		t.Errorf("bandwidth ratio %v, want MPI/mpx = 4", r)
	}
	if r := Ratio(lat, 3, 0); r != 0 {
		t.Errorf("ratio over zero %v, want 0", r)
	}
	if RatioLabel(lat) != "mpx/MPI" || RatioLabel(bw) != "MPI/mpx" {
		t.Errorf("labels %q %q", RatioLabel(lat), RatioLabel(bw))
	}
	run := func(vals map[int]float64) *Result {
		r := &Result{Test: "latency"}
		for _, s := range []int{0, 1, 2, 4} {
			if v, ok := vals[s]; ok {
				r.Rows = append(r.Rows, Row{Size: s, Value: v})
			}
		}
		return r
	}
	mpx := []*Result{
		run(map[int]float64{0: 2, 1: 4, 2: 6, 4: 1}),
		run(map[int]float64{0: 3, 1: 5, 2: 7}), // misses size 4
		run(map[int]float64{0: 10, 1: 6, 2: 8, 4: 1}),
	}
	mpi := []*Result{
		run(map[int]float64{0: 1, 1: 2, 2: 2, 4: 1}),
		run(map[int]float64{0: 1, 1: 2, 2: 4, 4: 1}),
	}
	rows, err := Merge(lat, mpx, mpi)
	if err != nil {
		t.Fatal(err)
	}
	want := []CompareRow{{0, 3, 1, 3}, {1, 5, 2, 2.5}, {2, 7, 3, 7.0 / 3}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("Merge = %+v, want %+v", rows, want)
	}
	if _, err := Merge(lat, mpx, nil); err == nil {
		t.Error("Merge without MPI runs succeeded")
	}
	if _, err := Merge(bw, mpx, mpi); err == nil || !strings.Contains(err.Error(), "measured latency") {
		t.Errorf("Merge of mismatched tests: %v", err)
	}
	if _, err := Merge(lat, []*Result{run(map[int]float64{0: 1})}, []*Result{run(map[int]float64{1: 1})}); err == nil {
		t.Error("Merge with no common size succeeded")
	}
}

func sampleComparison() *Comparison {
	return &Comparison{Test: "latency", Unit: "us", Ranks: 2, Transport: "shm", Repeat: 5, MPIName: "Open MPI",
		RatioLabel: "mpx/MPI",
		Rows:       []CompareRow{{0, 1.5, 0.5, 3}, {1, 1.6, 0.8, 2}, {1024, 4, 2, 2}, {4096, 8, 0, 0}},
		MPXRuns:    []*Result{{Test: "latency", Rows: []Row{{Size: 1, Value: 1.6}}}},
		MPIRuns:    []*Result{{Test: "latency", Rows: []Row{{Size: 1, Value: 0.8}}}},
		Meta: Meta{Version: "devel-abc", MPIVersion: "mpirun (Open MPI) 4.1.4", Params: map[string]string{"eager": "8k"},
			Machine: Machine{CPU: "AMD EPYC", Cores: 2, Kernel: "Linux 6.1"}}}
}

func TestWriteComparison(t *testing.T) {
	var b bytes.Buffer
	if err := WriteComparison(&b, sampleComparison()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# OSU-style MPX vs Open MPI Latency Test\n",
		"# MPI: mpirun (Open MPI) 4.1.4\n",
		"# transport: shm, ranks: 2, medians of 5 alternating runs each\n",
		"# machine: AMD EPYC, 2 cores, Linux 6.1\n",
		"# params: eager=8k\n",
		"# Size           mpx Latency(us)   OpenMPI Latency(us)     mpx/MPI\n",
		"1                           1.60                  0.80        2.00\n",
		"4096                        8.00                  0.00         n/a\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison table lacks %q:\n%s", want, out)
		}
	}
}

// For bandwidth the ratio is MPI/mpx, and a zero MPI figure is a ratio of
// 0, not a division by zero.
func TestWriteComparisonBandwidth(t *testing.T) {
	c := &Comparison{Test: "bw", Unit: "MB/s", Ranks: 2, Transport: "tcp", Repeat: 3, MPIName: "MPICH", RatioLabel: "MPI/mpx",
		Rows: []CompareRow{{1, 0.05, 0, 0}, {1024, 100, 250, 2.5}, {2048, 0, 10, 0}}}
	var b bytes.Buffer
	if err := WriteComparison(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Size              mpx BW(MB/s)        MPICH BW(MB/s)     MPI/mpx\n",
		"1                           0.05                  0.00        0.00\n",
		"1024                      100.00                250.00        2.50\n",
		"2048                        0.00                 10.00         n/a\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDecodeFile(t *testing.T) {
	r := &Result{Test: "bw", Impl: "mpx", Level: LevelComm, Unit: "MB/s", Ranks: 2,
		Rows: []Row{{Size: 1, Value: 3.5}}, Opts: Defaults(mustTest(t, "bw")),
		Meta: Meta{Command: []string{"mpx", "bench", "bw"}, Version: "x", Machine: ThisMachine()}}
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFile(b.Bytes())
	if err != nil || f.Result == nil || f.Comparison != nil {
		t.Fatalf("DecodeFile(result) = %+v, %v", f, err)
	}
	if !reflect.DeepEqual(f.Result, r) {
		t.Errorf("result round trip:\n got %+v\nwant %+v", f.Result, r)
	}
	c := sampleComparison()
	b.Reset()
	if err := WriteJSON(&b, c); err != nil {
		t.Fatal(err)
	}
	f, err = DecodeFile(b.Bytes())
	if err != nil || f.Comparison == nil || f.Result != nil {
		t.Fatalf("DecodeFile(comparison) = %+v, %v", f, err)
	}
	if !reflect.DeepEqual(f.Comparison.Rows, c.Rows) || f.Comparison.MPIName != "Open MPI" {
		t.Errorf("comparison round trip: %+v", f.Comparison)
	}
	for _, bad := range []string{`{`, `{"test":"nope"}`, `{"test":"latency","rows":[{"size":-4}]}`, `[]`} {
		if _, err := DecodeFile([]byte(bad)); err == nil {
			t.Errorf("DecodeFile(%s) succeeded", bad)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	r := &Result{Test: "mbw_mr", Impl: "mpx", Level: LevelComm, Unit: "MB/s", Ranks: 4,
		Rows: []Row{{Size: 8, Value: 1.5, Rate: 187500, Iters: 0}}}
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "test,impl,level,ranks,size,value,unit,min,max,messages_per_s,iterations\nmbw_mr,mpx,comm,4,8,1.5,MB/s,0,0,187500,0\n"
	if b.String() != want {
		t.Errorf("CSV\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	c := sampleComparison()
	extra := ResultSeries(&Result{Test: "latency", Impl: "mpx", Level: LevelTransport, Unit: "us",
		Meta: Meta{Transports: []string{"tcp"}}, Rows: []Row{{Size: 1, Value: 3}, {Size: 64, Value: 4}}}, "")
	series := append(c.Series(), extra)
	names := []string{"mpx latency [shm]", "Open MPI latency [shm]", "mpx latency (transport) [tcp]"}
	for i, s := range series {
		if s.Name != names[i] {
			t.Errorf("series %d named %q, want %q", i, s.Name, names[i])
		}
	}

	png1 := filepath.Join(dir, "cmp.png")
	if err := Plot(png1, "latency", series); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(png1)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("PNG of %v pixels", b)
	}

	svg := filepath.Join(dir, "cmp.svg")
	if err := Plot(svg, "latency on shm", series); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "<svg") {
		t.Fatalf("not an SVG: %.200s", text)
	}
	for _, want := range append(names, "latency on shm", "Latency (us)", "Message size (bytes)") {
		if !strings.Contains(text, ">"+want+"<") {
			t.Errorf("SVG has no text %q", want)
		}
	}

	cases := []struct {
		name   string
		path   string
		series []Series
		want   string
	}{
		{"format", filepath.Join(dir, "x.gif"), series, "want a .svg"},
		{"nothing", filepath.Join(dir, "x.svg"), nil, "no results"},
		{"units", filepath.Join(dir, "x.svg"), append(series, Series{Name: "bw", Unit: "MB/s"}), "one axis"},
		{"no points", filepath.Join(dir, "x.svg"), []Series{{Name: "zero", Unit: "us", Points: c.Series()[1].Points[3:]}}, "no point"},
	}
	for _, k := range cases {
		if err := Plot(k.path, "t", k.series); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%s: Plot error %v, want one containing %q", k.name, err, k.want)
		}
	}
}

func TestSizeTicks(t *testing.T) {
	var labels []string
	for _, tk := range (sizeTicks{}).Ticks(2, 1<<20) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "4 16 64 256 1K 4K 16K 64K 256K 1M" {
		t.Errorf("ticks %s", got)
	}
}

func TestIdentifyMPI(t *testing.T) {
	cases := []struct {
		out, name, version string
		major              int
	}{
		{"mpirun (Open MPI) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/\n", "Open MPI", "mpirun (Open MPI) 4.1.4", 4},
		{"mpirun (Open MPI) 5.0.3\n", "Open MPI", "mpirun (Open MPI) 5.0.3", 5},
		{"HYDRA build details:\n    Version:                                 4.0.2\n    Release Date:   Thu Apr  9 2022\n", "MPICH", "MPICH 4.0.2", 4},
		{"Intel(R) MPI Library for Linux* OS, Version 2021.6\n", "MPI", "Intel(R) MPI Library for Linux* OS, Version 2021.6", 2021},
	}
	for _, c := range cases {
		n, v, m := identifyMPI(c.out)
		if n != c.name || v != c.version || m != c.major {
			t.Errorf("identifyMPI(%q) = %q %q %d, want %q %q %d", c.out, n, v, m, c.name, c.version, c.major)
		}
	}
}

func TestMPICommand(t *testing.T) {
	lat := mustTest(t, "latency")
	o := Options{MinSize: 0, MaxSize: 64, Iters: 10, ItersLarge: 5, Warmup: 2, WarmupLarge: 1, LargeSize: 8192, Window: 64}
	cases := []struct {
		mpi       MPI
		transport string
		want      string
		env       string
	}{
		{MPI{Name: "Open MPI", Launcher: "/usr/bin/mpirun", Major: 4}, "shm",
			"/usr/bin/mpirun --allow-run-as-root --oversubscribe --bind-to none --mca pml ob1 --mca btl self,vader -n 2 /c/osu latency -m 0:64 -i 10:5 -x 2:1 -L 8192 -W 64",
			"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"},
		{MPI{Name: "Open MPI", Launcher: "/usr/bin/mpirun", Major: 5}, "shm",
			"/usr/bin/mpirun --allow-run-as-root --oversubscribe --bind-to none --mca pml ob1 --mca btl self,sm -n 2 /c/osu latency -m 0:64 -i 10:5 -x 2:1 -L 8192 -W 64", ""},
		{MPI{Name: "Open MPI", Launcher: "/usr/bin/mpirun", Major: 4}, "tcp",
			"/usr/bin/mpirun --allow-run-as-root --oversubscribe --bind-to none --mca pml ob1 --mca btl self,tcp --mca btl_tcp_if_include lo -n 2 /c/osu latency -m 0:64 -i 10:5 -x 2:1 -L 8192 -W 64", ""},
		{MPI{Name: "MPICH", Launcher: "/usr/bin/mpiexec"}, "tcp",
			"/usr/bin/mpiexec -n 2 /c/osu latency -m 0:64 -i 10:5 -x 2:1 -L 8192 -W 64", "MPIR_CVAR_CH3_NOLOCAL=1"},
	}
	for _, c := range cases {
		cmd, err := c.mpi.Command(t.Context(), "/c/osu", lat, 2, c.transport, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cmd.Args, " "); got != c.want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.mpi.Name, c.transport, got, c.want)
		}
		if c.env != "" && !strings.Contains(strings.Join(cmd.Env, "\n"), c.env) {
			t.Errorf("%s %s: environment lacks %s", c.mpi.Name, c.transport, c.env)
		}
	}
	m := MPI{Name: "Open MPI", Launcher: "mpirun"}
	if _, err := m.Command(t.Context(), "/c/osu", lat, 2, "p2p", o); err == nil {
		t.Error("Command accepted transport p2p")
	}
}

func TestBar(t *testing.T) {
	var b bytes.Buffer
	bar := &Bar{W: &b, Label: "latency", Width: 10}
	bar.Update(3, 10)
	bar.Update(10, 10)
	if want := "\rlatency [###.......] 3/10\r\033[K"; b.String() != want {
		t.Errorf("bar drew %q, want %q", b.String(), want)
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if NewProgress(f, "x") != nil {
		t.Error("progress bar on a regular file")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Error("/dev/null taken for a terminal")
	}
}

func TestMachine(t *testing.T) {
	m := ThisMachine()
	if m.Cores < 1 || m.CPU == "" || m.Kernel == "" || m.OS == "" {
		t.Errorf("machine %+v", m)
	}
	if Version() == "" {
		t.Error("empty version")
	}
}

func FuzzParseOSU(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "openmpi_*.txt"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("# OSU-style MPX Gather Latency Test\n# ranks: 3\n4 1 1 1 10\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseOSU(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What parses prints and parses back to the same rows.
		var b bytes.Buffer
		if err := WriteOSU(&b, r); err != nil {
			t.Fatalf("parsed %q but cannot print it: %v", data, err)
		}
		if _, err := ParseOSU(&b); err != nil {
			t.Fatalf("reprint of %q does not parse: %v\n%s", data, err, b.String())
		}
	})
}

func FuzzDecodeFile(f *testing.F) {
	var b bytes.Buffer
	WriteJSON(&b, sampleComparison())
	f.Add(b.Bytes())
	b.Reset()
	WriteJSON(&b, &Result{Test: "latency", Rows: []Row{{Size: 0, Value: 1}}})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := DecodeFile(data)
		if err != nil {
			return
		}
		if (file.Result == nil) == (file.Comparison == nil) {
			t.Fatalf("DecodeFile(%q) gave %+v", data, file)
		}
		FileSeries(file)
	})
}
