package rdma

import (
	"encoding/binary"
	"testing"
)

// Unpack refuses a key whose token it cannot read back: a process that
// is not there, or one whose token differs (another node).
func TestCMAProbe(t *testing.T) {
	key, _, err := CMA{}.Pack(make([]byte, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (CMA{}).Unpack(1, key); err != nil {
		t.Fatalf("own key: %v", err)
	}
	other := append([]byte(nil), key...)
	other[len(other)-1] ^= 1
	if _, err := (CMA{}).Unpack(1, other); err == nil {
		t.Error("a key with another token was accepted")
	}
	gone := append([]byte(nil), key...)
	binary.LittleEndian.PutUint32(gone, 1<<30) // above pid_max
	if _, err := (CMA{}).Unpack(1, gone); err == nil {
		t.Error("a key of a missing process was accepted")
	}
	if _, err := (CMA{}).Unpack(1, key[:5]); err == nil {
		t.Error("a short key was accepted")
	}
}
