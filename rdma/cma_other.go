//go:build !linux

package rdma

// DefaultBackends are the direct backends of this build: none off Linux,
// where every peer is reached through the emulation.
func DefaultBackends() []Backend { return nil }
