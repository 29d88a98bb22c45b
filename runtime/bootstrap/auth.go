package bootstrap

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The handshake. The server sends a fresh nonce; the client answers with
// its rank, its own nonce and HMAC-SHA256(secret, "client", server nonce,
// client nonce, rank); the server checks it and answers with
// HMAC-SHA256(secret, "server", client nonce, server nonce, rank), which
// the client checks in turn. Both proofs are bound to both nonces, so
// neither can be replayed on another connection, and the labels keep one
// side's proof from being reflected as the other's. A stranger learns
// nothing but a nonce before it is dropped.

const macLen = sha256.Size

const (
	labelClient = "mpx-bootstrap-v1 client"
	labelServer = "mpx-bootstrap-v1 server"
)

func newNonce() ([]byte, error) {
	b := make([]byte, nonceLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("bootstrap: random nonce: %w", err)
	}
	return b, nil
}

func proof(secret []byte, label string, first, second []byte, rank int) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	h.Write(first)
	h.Write(second)
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], uint64(rank))
	h.Write(r[:])
	return h.Sum(nil)
}

func clientProof(secret, serverNonce, clientNonce []byte, rank int) []byte {
	return proof(secret, labelClient, serverNonce, clientNonce, rank)
}

func serverProof(secret, serverNonce, clientNonce []byte, rank int) []byte {
	return proof(secret, labelServer, clientNonce, serverNonce, rank)
}

// NewSecret returns a fresh random job secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("bootstrap: random job secret: %w", err)
	}
	return b, nil
}
