package socketioclient

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestEmbeddedFilesMatchPinnedChecksums guards against a hand-edited or half-refreshed bundle:
// what the binary serves must be exactly what refresh.sh verified against npm.
func TestEmbeddedFilesMatchPinnedChecksums(t *testing.T) {
	sums, err := files.ReadFile("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, path, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum format", sc.Text())
		}
		pinned[path] = sum
	}
	if want := "socket.io-client-" + Version() + ".tgz"; pinned[want] == "" {
		t.Errorf("SHA256SUMS does not pin the npm tarball %s named by VERSION", want)
	}
	for _, name := range Names {
		b, ok := File(name)
		if !ok {
			t.Fatalf("%s is not embedded", name)
		}
		sum := sha256.Sum256(b)
		if got, want := hex.EncodeToString(sum[:]), pinned["dist/"+name]; got != want {
			t.Errorf("dist/%s: sha256 %s, SHA256SUMS pins %q", name, got, want)
		}
	}
}

func TestBundleIsTheVersionNamed(t *testing.T) {
	b, _ := File("socket.io.min.js")
	if banner := "Socket.IO v" + Version(); !bytes.Contains(b[:200], []byte(banner)) {
		t.Errorf("socket.io.min.js does not start with the banner %q", banner)
	}
	if Version()[:2] != "4." {
		t.Errorf("VERSION %q: the relay serves socket.io-client 4.x", Version())
	}
}

func TestFileRefusesOtherNames(t *testing.T) {
	for _, name := range []string{"VERSION", "../VERSION", "socket.io.esm.min.js", ""} {
		if _, ok := File(name); ok {
			t.Errorf("File(%q) served a file outside Names", name)
		}
	}
}
