package runtime

import "testing"

func TestLoopbackFirst(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.2:4000,127.0.0.1:4000", "127.0.0.1:4000,192.0.2.2:4000"},
		{"127.0.0.1:1", "127.0.0.1:1"},
		{"198.18.0.11:9,198.18.1.11:9", "198.18.0.11:9,198.18.1.11:9"},
		{"10.0.0.1:5,[::1]:5,127.0.0.2:5", "[::1]:5,127.0.0.2:5,10.0.0.1:5"},
	} {
		if got := loopbackFirst(tc.in); got != tc.want {
			t.Errorf("loopbackFirst(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRanks(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{3}, "3"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{0, 2, 3, 7}, "0,2-3,7"},
	} {
		if got := ranks(tc.in); got != tc.want {
			t.Errorf("ranks(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
