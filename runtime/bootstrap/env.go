// Package bootstrap is the contract between the launcher and a rank: the
// environment a rank is started with, and the key-value wire-up protocol
// (put / get / fence, PMI-like) that the launcher serves. Both sides import
// it; it imports only the standard library and msgpack.
package bootstrap

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// The environment contract. A rank started by `mpx run` finds all of these.
const (
	EnvRank      = "MPX_RANK"
	EnvSize      = "MPX_SIZE"
	EnvLocalRank = "MPX_LOCAL_RANK"
	EnvLocalSize = "MPX_LOCAL_SIZE"
	EnvNodeID    = "MPX_NODE_ID"
	EnvNodeName  = "MPX_NODE_NAME"
	EnvJobID     = "MPX_JOB_ID"
	EnvKVAddr    = "MPX_KV_ADDR"    // host:port of the key-value service
	EnvSecret    = "MPX_JOB_SECRET" // hex; proves membership of the job
)

// Env is what a rank learns from its environment.
type Env struct {
	Rank, Size           int
	LocalRank, LocalSize int
	NodeID               int
	NodeName             string
	JobID                string
	KVAddr               string
	Secret               []byte
}

// FromEnviron reads the contract through getenv (os.Getenv in a rank). ok is
// false when the rank was not started by mpx (no MPX_RANK): a singleton.
func FromEnviron(getenv func(string) string) (env Env, ok bool, err error) {
	if getenv(EnvRank) == "" {
		return Env{}, false, nil
	}
	ints := []struct {
		name string
		dst  *int
		min  int
	}{
		{EnvRank, &env.Rank, 0}, {EnvSize, &env.Size, 1},
		{EnvLocalRank, &env.LocalRank, 0}, {EnvLocalSize, &env.LocalSize, 1},
		{EnvNodeID, &env.NodeID, 0},
	}
	for _, f := range ints {
		s := getenv(f.name)
		n, perr := strconv.Atoi(s)
		if perr != nil || n < f.min {
			return env, true, fmt.Errorf("environment %s=%q: want an integer >= %d (was this rank started by mpx run?)", f.name, s, f.min)
		}
		*f.dst = n
	}
	if env.Rank >= env.Size {
		return env, true, fmt.Errorf("environment %s=%d is not below %s=%d", EnvRank, env.Rank, EnvSize, env.Size)
	}
	if env.LocalRank >= env.LocalSize {
		return env, true, fmt.Errorf("environment %s=%d is not below %s=%d", EnvLocalRank, env.LocalRank, EnvLocalSize, env.LocalSize)
	}
	env.NodeName = getenv(EnvNodeName)
	env.JobID = getenv(EnvJobID)
	env.KVAddr = getenv(EnvKVAddr)
	if env.KVAddr == "" {
		return env, true, fmt.Errorf("environment %s is empty: the rank cannot reach the launcher", EnvKVAddr)
	}
	sec, herr := hex.DecodeString(getenv(EnvSecret))
	if herr != nil || len(sec) == 0 {
		return env, true, fmt.Errorf("environment %s is missing or not hex", EnvSecret)
	}
	env.Secret = sec
	return env, true, nil
}

// Environ renders env as KEY=value pairs, including the names that scripts
// written for other runtimes read (PMI_*, OMPI_COMM_WORLD_*).
func (env Env) Environ() []string {
	itoa := strconv.Itoa
	return []string{
		EnvRank + "=" + itoa(env.Rank),
		EnvSize + "=" + itoa(env.Size),
		EnvLocalRank + "=" + itoa(env.LocalRank),
		EnvLocalSize + "=" + itoa(env.LocalSize),
		EnvNodeID + "=" + itoa(env.NodeID),
		EnvNodeName + "=" + env.NodeName,
		EnvJobID + "=" + env.JobID,
		EnvKVAddr + "=" + env.KVAddr,
		EnvSecret + "=" + hex.EncodeToString(env.Secret),
		"PMI_RANK=" + itoa(env.Rank),
		"PMI_SIZE=" + itoa(env.Size),
		"OMPI_COMM_WORLD_RANK=" + itoa(env.Rank),
		"OMPI_COMM_WORLD_SIZE=" + itoa(env.Size),
		"OMPI_COMM_WORLD_LOCAL_RANK=" + itoa(env.LocalRank),
		"OMPI_COMM_WORLD_LOCAL_SIZE=" + itoa(env.LocalSize),
	}
}
