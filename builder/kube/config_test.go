package kube_test

import (
	"strings"
	"testing"

	"imagebuilder/builder/kube"
)

// Build pods get requests by default (lowered to a lower limit), and a
// memory limit the worker cannot live in, or a request over its limit, is
// refused at start with the flag's name.
func TestBuildPodResourcesHaveDefaultsAndRefuseWhatCannotWork(t *testing.T) {
	for _, c := range []struct {
		cpuReq, cpuLim, memReq, memLim string
		want, err                      string
	}{
		{want: "CPU request 100m, memory request 256Mi"},
		{memLim: "200Mi", want: "CPU request 100m, memory request 200Mi, memory limit 200Mi"},
		{cpuReq: "2", memReq: "1Gi", memLim: "4Gi", want: "CPU request 2, memory request 1Gi, memory limit 4Gi"},
		{cpuLim: "50m", want: "CPU request 50m, CPU limit 50m, memory request 256Mi"},
		{memLim: "64Mi", err: "--kube-memory-limit 64Mi: a build pod needs at least 160Mi"},
		{memReq: "2Gi", memLim: "1Gi", err: "the memory request 2Gi is over its limit 1Gi"},
		{cpuReq: "lots", err: `--kube-cpu-request "lots"`},
	} {
		f := kube.Flags{CPURequest: c.cpuReq, CPULimit: c.cpuLim, MemoryRequest: c.memReq, MemoryLimit: c.memLim}
		_, err := kube.ParseResources(c.cpuReq, c.cpuLim, c.memReq, c.memLim)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want %q", c, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.err == "" && f.Resources() != c.want:
			t.Errorf("%+v: %q, want %q", c, f.Resources(), c.want)
		}
	}
}
