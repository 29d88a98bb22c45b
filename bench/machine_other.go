//go:build !linux

package bench

import (
	"os/exec"
	"strings"
)

// cpuModel asks sysctl where /proc/cpuinfo does not exist (BSD, macOS).
func cpuModel() string {
	out, err := exec.Command("sysctl", "-n", "machdep.cpu.brand_string").Output()
	if err != nil || len(out) == 0 {
		out, err = exec.Command("sysctl", "-n", "hw.model").Output()
	}
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// kernel is what `uname -sr` prints.
func kernel() string {
	out, err := exec.Command("uname", "-sr").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
