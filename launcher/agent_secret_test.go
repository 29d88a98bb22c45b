package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecretFile(t *testing.T) {
	const good = "0123456789abcdef0123"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string   // the secret, when no error
		errHas  []string // what the error must name
	}{
		{"owner only", good + "\n", 0o600, good, nil},
		{"read only", good, 0o400, good, nil},
		{"world readable", good, 0o644, "", []string{"0644", "chmod 600", "secret"}},
		{"group readable", good, 0o640, "", []string{"0640", "chmod 600"}},
		{"others writable", good, 0o602, "", []string{"0602", "chmod 600"}},
		{"group executable", good, 0o610, "", []string{"0610", "chmod 600"}},
		{"too short", "short", 0o600, "", []string{"at least 16 bytes"}},
		{"empty", "", 0o600, "", []string{"at least 16 bytes"}},
	}
	dir := t.TempDir()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "key"+itoa(i))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			sec, err := ReadSecretFile(path)
			if tc.errHas == nil {
				if err != nil || string(sec) != tc.want {
					t.Fatalf("got %q, %v; want %q", sec, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %s (mode %04o)", path, tc.mode)
			}
			for _, w := range append(tc.errHas, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	for _, bad := range []struct{ name, path, errHas string }{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"a directory", dir, "not a regular file"},
		{"no path", "", "no secret file"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := ReadSecretFile(bad.path); err == nil || !strings.Contains(err.Error(), bad.errHas) {
				t.Errorf("error %v, want one saying %q", err, bad.errHas)
			}
		})
	}
}
