package ucx

import (
	"bytes"
	"strings"
	"testing"
)

func TestAddrRoundTrip(t *testing.T) {
	a := Addr{Rank: 7, Worker: []byte{1, 2, 3, 250}}
	a.Host[0], a.Challenge[15] = 0xab, 0xcd
	b, err := ParseAddr(a.String())
	if err != nil {
		t.Fatal(err)
	}
	if b.Rank != a.Rank || b.Host != a.Host || b.Challenge != a.Challenge || !bytes.Equal(b.Worker, a.Worker) {
		t.Errorf("ParseAddr(%q) = %+v, want %+v", a.String(), b, a)
	}
}

func TestParseAddrErrors(t *testing.T) {
	good := Addr{Rank: 1, Worker: []byte{9}}.String()
	parts := strings.Split(good, ":")
	for _, tc := range []struct{ in, want string }{
		{"", "want prefix"},
		{"tcp:1:2", "want prefix"},
		{"ucx1:1:2", "want ucx1:rank:host:challenge:worker"},
		{strings.Replace(good, "ucx1:1:", "ucx1:-1:", 1), "bad rank"},
		{strings.Join([]string{parts[0], parts[1], "zz", parts[3], parts[4]}, ":"), "host must be 8 hex bytes"},
		{strings.Join([]string{parts[0], parts[1], parts[2], "00", parts[4]}, ":"), "challenge must be 16 hex bytes"},
		{strings.Join([]string{parts[0], parts[1], parts[2], parts[3], ""}, ":"), "empty worker address"},
		{strings.Join([]string{parts[0], parts[1], parts[2], parts[3], "!!"}, ":"), "worker address"},
	} {
		_, err := ParseAddr(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddr(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestHelloProof(t *testing.T) {
	var dc, sc [challengeLen]byte
	dc[0], sc[0] = 1, 2
	h := hello{src: 3, dst: 5, dstChallenge: dc, srcChallenge: sc, proof: proofOf([]byte("s"), 3, 5, dc, sc)}
	got, err := decodeHello(h.encode())
	if err != nil || got != h {
		t.Fatalf("decodeHello(encode(%+v)) = %+v, %v", h, got, err)
	}
	// The proof binds the secret, both ranks and both challenges.
	for name, other := range map[string][32]byte{
		"secret":    proofOf([]byte("t"), 3, 5, dc, sc),
		"source":    proofOf([]byte("s"), 4, 5, dc, sc),
		"dest":      proofOf([]byte("s"), 3, 6, dc, sc),
		"challenge": proofOf([]byte("s"), 3, 5, sc, dc),
	} {
		if other == h.proof {
			t.Errorf("changing the %s leaves the proof unchanged", name)
		}
	}
	if _, err := decodeHello(make([]byte, helloLen-1)); err == nil {
		t.Errorf("decodeHello of a short hello: no error")
	}
}

func TestDescRoundTrip(t *testing.T) {
	d := desc{id: 9, addr: 0x1000, n: 64, rkey: []byte{4, 5, 6}}
	got, err := decodeDesc(d.encode())
	if err != nil || got.id != d.id || got.addr != d.addr || got.n != d.n || !bytes.Equal(got.rkey, d.rkey) {
		t.Fatalf("decodeDesc(encode(%+v)) = %+v, %v", d, got, err)
	}
	for _, tc := range []struct {
		d    desc
		want string
	}{
		{desc{n: 4, rkey: []byte{1}}, "without address or key"},
		{desc{addr: 8, n: 4}, "without address or key"},
		{desc{addr: ^uint64(0), n: 4, rkey: []byte{1}}, "wraps"},
	} {
		if _, err := decodeDesc(tc.d.encode()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeDesc(%+v) = %v, want an error containing %q", tc.d, err, tc.want)
		}
	}
	if _, err := decodeDesc(make([]byte, descHdr-1)); err == nil {
		t.Errorf("decodeDesc of a short descriptor: no error")
	}
}

func TestParseLanes(t *testing.T) {
	report := `#
# UCP endpoint
#
#               peer: <no debug data>
#                 lane[0]:  2:tcp/lo.0 md[1]          -> md[1]/tcp/sysdev[255] rma_bw#0 am am_bw#0
#                 lane[1]:  5:posix/memory.0 md[3]    -> md[3]/posix/sysdev[255] am
#                 lane[2]:  7:cma/memory.0 md[4]      -> md[4]/cma/sysdev[255] rma_bw#1
#                 lane[3]:  3:tcp/lo.0 md[1]          -> md[1]/tcp/sysdev[255] rma_bw#1
#
#                tag_send: 0..<egr/short>..8185..<egr/bcopy>..8192..<rndv>..(inf)
`
	if got, want := parseLanes(report), "tcp/lo posix/memory cma/memory"; got != want {
		t.Errorf("parseLanes = %q, want %q", got, want)
	}
	if got := parseLanes("no lanes here"); got != "" {
		t.Errorf("parseLanes of a report without lanes = %q", got)
	}
}

func TestHasRDMA(t *testing.T) {
	for _, tc := range []struct {
		rs   []Resource
		want bool
	}{
		{nil, false},
		{[]Resource{{"tcp", "eth0"}, {"posix", "memory"}, {"cma", "memory"}}, false},
		{[]Resource{{"tcp", "eth0"}, {"rc_mlx5", "mlx5_0:1"}}, true},
		{[]Resource{{"dc_mlx5", "mlx5_0:1"}}, true},
		{[]Resource{{"ud_verbs", "mlx4_0:1"}}, true},
	} {
		if got := HasRDMA(tc.rs); got != tc.want {
			t.Errorf("HasRDMA(%v) = %v, want %v", tc.rs, got, tc.want)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	f.Add(Addr{Rank: 1, Worker: []byte{1, 2}}.String())
	f.Add("ucx1:0:00:00:AA")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil || b.Rank != a.Rank || b.Host != a.Host || b.Challenge != a.Challenge || !bytes.Equal(a.Worker, b.Worker) {
			t.Fatalf("%q parses to %+v, which does not round-trip: %+v, %v", s, a, b, err)
		}
	})
}

func FuzzDecodeDesc(f *testing.F) {
	f.Add(desc{id: 1, addr: 64, n: 8, rkey: []byte{1}}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDesc(b)
		if err != nil {
			return
		}
		if d.addr+d.n < d.addr || d.n > 0 && len(d.rkey) == 0 {
			t.Fatalf("accepted invalid descriptor %+v", d)
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(make([]byte, helloLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err == nil && (h.src < 0 || h.dst < 0 || len(b) != helloLen) {
			t.Fatalf("accepted hello %+v from %d bytes", h, len(b))
		}
	})
}
