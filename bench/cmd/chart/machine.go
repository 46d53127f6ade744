package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine describes where the records were taken: CPU, cores and RAM from /proc, kernel, the
// Go and Node.js versions, and the date.
func machine() string {
	model, cores := "unknown CPU", 0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				model = strings.TrimSpace(v)
			case "processor":
				cores++
			}
		}
		f.Close()
	}
	ram := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if i := bytes.Index(b, []byte("MemTotal:")); i >= 0 {
			fmt.Sscanf(string(b[i+len("MemTotal:"):]), "%d", &kib)
			ram = fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	node, _ := exec.Command("node", "--version").Output()
	return fmt.Sprintf("%s, %d cores, %s RAM, Linux %s, %s, Node.js %s; report written %s",
		model, cores, ram, strings.TrimSpace(string(kernel)), runtime.Version(),
		strings.TrimSpace(string(node)), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
