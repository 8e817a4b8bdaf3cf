package kubetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bridge is the CNI bridge of pods that do not use the host's network.
const bridge = "ibtest0"

// makePKI writes a throwaway CA, the certificates of each component and
// their kubeconfig files into dir.
func makePKI(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imagebuilder-test-ca"},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER); err != nil {
		return err
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "ca.key"), "EC PRIVATE KEY", caKeyDER); err != nil {
		return err
	}
	serial := int64(2)
	sign := func(name string, subject pkix.Name, server bool, ips []net.IP, dns []string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject, NotBefore: now,
			NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			IPAddresses: ips, DNSNames: dns}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER)
	}
	loop := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}
	for _, s := range []struct {
		name    string
		subject pkix.Name
		server  bool
		ips     []net.IP
		dns     []string
	}{
		{"apiserver", pkix.Name{CommonName: "kube-apiserver"}, true, loop,
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{"admin", pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, nil, nil},
		{"controller-manager", pkix.Name{CommonName: "system:kube-controller-manager"}, false, nil, nil},
		{"scheduler", pkix.Name{CommonName: "system:kube-scheduler"}, false, nil, nil},
		{"node", pkix.Name{CommonName: "system:node:127.0.0.1", Organization: []string{"system:nodes"}}, false, nil, nil},
		{"kubelet-serving", pkix.Name{CommonName: "127.0.0.1"}, true, loop[:1], []string{"localhost"}},
		{"apiserver-kubelet-client", pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}, false, nil, nil},
	} {
		if err := sign(s.name, s.subject, s.server, s.ips, s.dns); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saDER, _ := x509.MarshalECPrivateKey(saKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err := writePEM(filepath.Join(dir, "sa.key"), "EC PRIVATE KEY", saDER); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pubDER); err != nil {
		return err
	}
	for _, kc := range [][2]string{{"admin", "admin"}, {"controller-manager", "controller-manager"}, {"scheduler", "scheduler"}, {"kubelet", "node"}} {
		text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: %[1]s/ca.crt
users:
- name: %[2]s
  user:
    client-certificate: %[1]s/%[3]s.crt
    client-key: %[1]s/%[3]s.key
contexts:
- name: local
  context: {cluster: local, user: %[2]s}
current-context: local
`, dir, kc[0], kc[1])
		if err := os.WriteFile(filepath.Join(dir, kc[0]+".kubeconfig"), []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// auditPolicy records every request's metadata once it is answered.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

func apiserverArgs(p string) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=127.0.0.1", "--secure-port=6443", "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + p + "/apiserver.crt", "--tls-private-key-file=" + p + "/apiserver.key",
		"--client-ca-file=" + p + "/ca.crt",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p + "/sa.pub", "--service-account-signing-key-file=" + p + "/sa.key",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		// As OpenShift and other hardened clusters do: making a Job own a
		// Secret needs update on jobs/finalizers.
		"--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
		// Every request's user, verb and status, for tests that hold a
		// Role to what its code does (Refused).
		"--audit-policy-file=" + p + "/audit-policy.yaml", "--audit-log-path=" + p + "/../logs/audit.log",
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + p + "/apiserver-kubelet-client.crt", "--kubelet-client-key=" + p + "/apiserver-kubelet-client.key",
		"--kubelet-certificate-authority=" + p + "/ca.crt",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--profiling=false", "--v=1",
	}
}

func controllerArgs(p string) []string {
	kc := p + "/controller-manager.kubeconfig"
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--leader-elect=false",
		// With RBAC, the controller-manager's own identity may not create pods.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p + "/sa.key", "--root-ca-file=" + p + "/ca.crt",
		"--cluster-signing-cert-file=" + p + "/ca.crt", "--cluster-signing-key-file=" + p + "/ca.key",
		"--allocate-node-cidrs=false", "--controllers=*,-bootstrapsigner,-tokencleaner",
		"--profiling=false", "--v=1",
	}
}

// writeConfigs writes containerd's, the CNI network's and the kubelet's
// configuration under dir.
func writeConfigs(dir string) error {
	containerd := fmt.Sprintf(`version = 2
root = "%[1]s/containerd/root"
state = "%[1]s/containerd/state"

[grpc]
  address = "%[1]s/containerd/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  enable_selinux = false
  # root here may lack CAP_SYS_RESOURCE: clamp the pause container's
  # negative oom_score_adj to containerd's own, or runc fails every sandbox
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[1]s/cni/net.d"
`, dir)
	cni := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "imagebuilder-test",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "dataDir": "%s/cni/ipam"}
  }]
}
`, bridge, dir)
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[1]s/pki/ca.crt}
authorization:
  mode: AlwaysAllow
tlsCertFile: %[1]s/pki/kubelet-serving.crt
tlsPrivateKeyFile: %[1]s/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://%[1]s/containerd/containerd.sock
failSwapOn: false
podLogsDir: %[1]s/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
nodeStatusReportFrequency: 10s
nodeStatusUpdateFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
`, dir)
	for path, text := range map[string]string{
		filepath.Join(dir, "containerd", "config.toml"):                containerd,
		filepath.Join(dir, "cni", "net.d", "10-imagebuilder.conflist"): cni,
		filepath.Join(dir, "kubelet.yaml"):                             kubelet,
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// The kubelet sets these at start; Stop puts them back.
var sysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

func readSysctls() (map[string]string, error) {
	out := map[string]string{}
	for _, s := range sysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: %w", s, err)
		}
		out[s] = strings.TrimSpace(string(b))
	}
	return out, nil
}

func writeSysctls(values map[string]string) error {
	for s, v := range values {
		if err := os.WriteFile("/proc/sys/"+s, []byte(v), 0o644); err != nil {
			return fmt.Errorf("restore sysctl %s: %w", s, err)
		}
	}
	return nil
}

func httpOK(url string) bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pauseImage writes the pod sandbox image: busybox waiting for a signal.
func pauseImage(dir string) (string, error) {
	path := filepath.Join(dir, "pause.tar")
	err := ImageArchive(path, "registry.k8s.io/pause:3.10",
		[]string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"},
		map[string]string{"/bin/busybox": "/bin/busybox"}, []string{"sh", "sleep"})
	return path, err
}

// ImageArchive writes a one-layer docker-archive named name: files maps
// paths in the image to host files, and applets are busybox links in /bin.
func ImageArchive(path, name string, entrypoint []string, files map[string]string, applets []string) error {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	dirs := map[string]bool{}
	for _, p := range paths {
		for d := filepath.Dir(p); d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range append(dirList, "/tmp") {
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o1777}); err != nil {
			return err
		}
	}
	for _, p := range paths {
		data, err := os.ReadFile(files[p])
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	diff := sha256.Sum256(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": entrypoint, "Env": []string{"PATH=/bin:/usr/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diff[:])}},
	})
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{name}, "Layers": []string{"layer.tar"}}})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer.Bytes()}, {configName, config}, {"manifest.json", manifest}} {
		if err := out.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			return err
		}
		if _, err := out.Write(e.data); err != nil {
			return err
		}
	}
	return out.Close()
}

// cleanStale ends what a cluster of an earlier, killed test run left: its
// processes, mounts, network and directory.
func cleanStale() {
	old, _ := filepath.Glob(filepath.Join(tmpRoot, "imagebuilder-kube-*"))
	for _, dir := range old {
		killShims(dir)
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	}
	if len(old) > 0 {
		removeTraces()
	}
	cleanNetwork()
}

// killShims kills every process started from, or rooted in, dir: the
// cluster's own, containerd's shims and the containers they ran.
func killShims(dir string) {
	for round := 0; round < 20; round++ {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			root, _ := os.Readlink(filepath.Join("/proc", e.Name(), "root"))
			if bytes.Contains(cmdline, []byte(dir)) || strings.HasPrefix(root, dir) {
				found = true
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !found {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unmountUnder lazily unmounts every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// cleanNetwork removes the pods' network namespaces and the bridge.
func cleanNetwork() {
	nss, _ := filepath.Glob("/run/netns/cni-*")
	for _, ns := range nss {
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		_ = os.Remove(ns)
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil && len(entries) == 0 {
		_ = syscall.Unmount("/run/netns", syscall.MNT_DETACH)
		_ = os.Remove("/run/netns")
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		_ = exec.Command("ip", "link", "delete", bridge).Run()
	}
}

// cleanFixedPaths removes what the kubelet and containerd write outside
// their configured directories, when it is theirs (points into dir, or is
// an empty directory).
func cleanFixedPaths(dir string) {
	links, _ := filepath.Glob("/var/log/containers/*")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir) {
			_ = os.Remove(l)
		}
	}
	_ = os.Remove("/var/log/containers")
	_ = os.Remove("/var/log/pods")
	_ = os.Remove("/var/lib/kubelet/device-plugins/kubelet.sock")
	_ = os.Remove("/var/lib/kubelet/device-plugins")
	_ = os.Remove("/var/lib/kubelet")
	for _, d := range []string{"/run/containerd/fifo", "/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd/s", "/run/containerd"} {
		_ = os.Remove(d) // only when empty
	}
}
