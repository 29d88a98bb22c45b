package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadSecretFile reads the secret of pre-started agents from path. Like
// ssh with a private key, it refuses a file that anyone but its owner may
// read, write or execute: whoever reads the secret can pose as a launcher
// (and run programs as the agent's user) or as an agent.
func ReadSecretFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no secret file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The mode of the file opened, not of what the path names later.
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secret file %s is not a regular file (%v)", path, st.Mode().Type())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret file %s has mode %04o: others than its owner may use it, so it is refused; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("secret file %s: %w", path, err)
	}
	sec := []byte(strings.TrimSpace(string(b)))
	if len(sec) < 16 {
		return nil, fmt.Errorf("secret file %s: want at least 16 bytes of secret", path)
	}
	return sec, nil
}
