package kubetest

// What the kubelet leaves on the host outside its directories: iptables
// chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY, KUBE-FIREWALL and the
// rules that jump to them) and the kubepods control groups. The test
// cluster removes them when it stops, unless they were there before it
// started (another kubelet's).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

var iptablesTables = []string{"mangle", "filter", "nat"}

// Traces lists what of the kubelet's is on the host: "iptables nat
// KUBE-KUBELET-CANARY", "cgroup /sys/fs/cgroup/memory/kubepods", ...
func Traces() []string {
	var out []string
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			dump, err := exec.Command(tool+"-save", "-t", table).Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(dump), "\n") {
				if name, ok := strings.CutPrefix(line, ":KUBE-"); ok {
					out = append(out, tool+" "+table+" KUBE-"+strings.Fields(name)[0])
				}
			}
		}
	}
	for _, d := range kubepodsCgroups() {
		out = append(out, "cgroup "+d)
	}
	return out
}

func kubepodsCgroups() []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	v2, _ := filepath.Glob("/sys/fs/cgroup/kubepods")
	return append(v1, v2...)
}

// removeTraces removes the kubelet's chains (each table rewritten without
// them, and the rules that jump to them) and its empty control groups,
// deepest first.
func removeTraces() {
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			dump, err := exec.Command(tool+"-save", "-t", table).Output()
			if err != nil || !bytes.Contains(dump, []byte("KUBE-")) {
				continue
			}
			var kept []string
			for _, line := range strings.Split(string(dump), "\n") {
				if !strings.Contains(line, "KUBE-") {
					kept = append(kept, line)
				}
			}
			restore := exec.Command(tool+"-restore", "-T", table)
			restore.Stdin = strings.NewReader(strings.Join(kept, "\n"))
			_ = restore.Run()
		}
	}
	for _, root := range kubepodsCgroups() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}
