package kube

import (
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseNodeSelector reads "key=value,key2=value2".
func ParseNodeSelector(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("node selector %q: write key=value", kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node selector key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node selector value %q: %s", v, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// ParseTolerations reads "key=value:Effect,key:Effect,key", where a key
// without a value tolerates any value and no effect any effect.
func ParseTolerations(s string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		kv, effect, _ := strings.Cut(t, ":")
		k, v, hasValue := strings.Cut(kv, "=")
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("toleration key %q: %s", k, strings.Join(errs, "; "))
		}
		tol := corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists}
		if hasValue {
			tol.Operator, tol.Value = corev1.TolerationOpEqual, v
		}
		switch corev1.TaintEffect(effect) {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			tol.Effect = corev1.TaintEffect(effect)
		default:
			return nil, fmt.Errorf("toleration %q: the effect is NoSchedule, PreferNoSchedule or NoExecute", t)
		}
		out = append(out, tol)
	}
	return out, nil
}

// Build pods' requests when none is given: what the worker and a small
// package step use, so the scheduler does not pack builds onto a node
// that cannot hold them. A lower limit lowers the request with it.
var (
	DefaultCPURequest    = resource.MustParse("100m")
	DefaultMemoryRequest = resource.MustParse("256Mi")
	// MinMemoryLimit is the least memory limit a build pod may have: the
	// worker (the Buildah library and its registry clients) uses about
	// 100 MiB before any package manager runs.
	MinMemoryLimit = resource.MustParse("160Mi")
)

// ParseResources reads the build container's CPU and memory requests and
// limits ("" for none), e.g. "500m", "2", "512Mi". A request left out is
// the default, or the limit when that is lower.
func ParseResources(cpuRequest, cpuLimit, memRequest, memLimit string) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, flag, v string) error {
		if v == "" {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return fmt.Errorf("--%s %q: write an amount such as 500m or 2 (CPU), 512Mi or 2Gi (memory)", flag, v)
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	for _, e := range []error{
		set(&r.Requests, corev1.ResourceCPU, "kube-cpu-request", cpuRequest),
		set(&r.Limits, corev1.ResourceCPU, "kube-cpu-limit", cpuLimit),
		set(&r.Requests, corev1.ResourceMemory, "kube-memory-request", memRequest),
		set(&r.Limits, corev1.ResourceMemory, "kube-memory-limit", memLimit),
	} {
		if e != nil {
			return r, e
		}
	}
	if l, ok := r.Limits[corev1.ResourceMemory]; ok && l.Cmp(MinMemoryLimit) < 0 {
		return r, fmt.Errorf("--kube-memory-limit %s: a build pod needs at least %s (the worker itself uses about 100Mi before any package manager runs)", memLimit, MinMemoryLimit.String())
	}
	for _, d := range []struct {
		name corev1.ResourceName
		def  resource.Quantity
	}{{corev1.ResourceCPU, DefaultCPURequest}, {corev1.ResourceMemory, DefaultMemoryRequest}} {
		req, hasReq := r.Requests[d.name]
		limit, hasLimit := r.Limits[d.name]
		switch {
		case !hasReq:
			req = d.def
			if hasLimit && limit.Cmp(req) < 0 {
				req = limit
			}
			if r.Requests == nil {
				r.Requests = corev1.ResourceList{}
			}
			r.Requests[d.name] = req
		case hasLimit && req.Cmp(limit) > 0:
			return r, fmt.Errorf("the %s request %s is over its limit %s", d.name, req.String(), limit.String())
		}
	}
	return r, nil
}

// ParseCacheVolume reads where build pods keep their package caches:
// "pvc:NAME" (a PersistentVolumeClaim in the build namespace, ReadWriteMany
// for pods on several nodes), "hostpath:/DIR" (a directory on each node,
// made if missing; not admitted under Pod Security baseline) or "" (none:
// every build pod starts with empty caches).
func ParseCacheVolume(s string) (*corev1.VolumeSource, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch {
	case s == "":
		return nil, nil
	case kind == "pvc" && len(validation.IsDNS1123Subdomain(arg)) == 0:
		return &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: arg}}, nil
	case kind == "hostpath" && strings.HasPrefix(arg, "/") && filepath.Clean(arg) == arg && arg != "/":
		t := corev1.HostPathDirectoryOrCreate
		return &corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: arg, Type: &t}}, nil
	}
	return nil, fmt.Errorf("--kube-cache-volume %q: write pvc:NAME (a claim in the build namespace) or hostpath:/DIR (a clean absolute directory on each node)", s)
}
