package kube_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"imagebuilder/builder/kube"
	"imagebuilder/builder/kube/deploy"
	"imagebuilder/db"
)

// manifests decodes deploy.Manifests into typed objects.
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufioReader(deploy.Manifests))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		out = append(out, obj)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The manifests apply to a real cluster, the portal they describe starts
// in it (in-cluster config, its data on the claim, ready on /healthz), and
// the Role is all a build needs: a build runs with the service account's
// own token.
func TestDeploymentManifestsRunThePortalAndTheRoleSuffices(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	ctx := context.Background()
	cs, ns := g.c.Client, g.ns
	hash, _ := bcrypt.GenerateFromPassword([]byte("registry-pass"), bcrypt.MinCost)
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "imagebuilder-credentials"},
		StringData: map[string]string{"admin-password": "admin-pass-123", "registry-password": "registry-pass",
			"htpasswd": "builder:" + string(hash) + "\n"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The test cluster has no storage provisioner: a host directory backs
	// the claim; fsGroup does not reach a host directory, so it is the
	// portal's user's already, and the way to it passable.
	hostDir := filepath.Join(t.TempDir(), "pv")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(hostDir, portalUser, portalUser); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(hostDir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	pvName := "imagebuilder-data-" + ns
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}},
			ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: "imagebuilder-data"},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
	})

	portal, registryAddr := freePort(t), freePort(t)
	kinds := map[string]bool{}
	for _, obj := range manifests(t) {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.PersistentVolumeClaim:
			_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = cs.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
			// The portal runs unprivileged, as a non-root user.
			sc, csc := o.Spec.Template.Spec.SecurityContext, o.Spec.Template.Spec.Containers[0].SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != portalUser ||
				csc == nil || (csc.Privileged != nil && *csc.Privileged) || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
				csc.Capabilities == nil || len(csc.Capabilities.Add) > 0 || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Fatalf("the portal's pod is not unprivileged: %+v %+v", sc, csc)
			}
			// What differs on the test cluster: its locally imported image,
			// the node's network (pods reach the API server and registries
			// on its loopback), and free ports.
			pod := &o.Spec.Template.Spec
			pod.HostNetwork = true
			c := &pod.Containers[0]
			c.Image, c.ImagePullPolicy = g.exec.WorkerImage(), corev1.PullNever
			for i, a := range c.Args {
				switch {
				case strings.HasPrefix(a, "--addr="):
					c.Args[i] = "--addr=" + portal
				case strings.HasPrefix(a, "--registry-addr="):
					c.Args[i] = "--registry-addr=" + registryAddr
				case strings.HasPrefix(a, "--registry-advertise="):
					c.Args[i] = "--registry-advertise=" + registryAddr
				case strings.HasPrefix(a, "--kube-worker-image="):
					c.Args[i] = "--kube-worker-image=" + g.exec.WorkerImage()
				}
			}
			c.Args = append(c.Args, "--kube-image-pull-policy=Never", "--kube-host-network")
			for i, addr := range []string{portal, registryAddr} {
				_, port, _ := net.SplitHostPort(addr)
				n, _ := strconv.Atoi(port)
				c.Ports[i].ContainerPort = int32(n)
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
				corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"})
			_, err = cs.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected object %T", obj)
		}
		if err != nil {
			t.Fatalf("apply %T: %v", obj, err)
		}
		kinds[fmt.Sprintf("%T", obj)] = true
	}
	if len(kinds) != 6 {
		t.Fatalf("the manifests hold %v", kinds)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "imagebuilder", metav1.GetOptions{})
		if err == nil && d.Status.AvailableReplicas == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the portal never became available: %+v\n%s", d.Status, portalLog(t, g))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if l := portalLog(t, g); !strings.Contains(l, "executor=\"kubernetes (namespace "+ns+")\"") {
		t.Errorf("the portal does not say it builds on Kubernetes:\n%s", l)
	}
	// It keeps its data on the claim, and nothing of Buildah there.
	for _, p := range []string{"imagebuilder.db", "secret.key"} {
		if _, err := os.Stat(filepath.Join(hostDir, p)); err != nil {
			t.Errorf("the portal's data: %v", err)
		}
	}
	for _, p := range []string{"storage", "run", "tmp", "policy.json", "registries.conf"} {
		if _, err := os.Lstat(filepath.Join(hostDir, p)); err == nil {
			t.Errorf("the portal made Buildah's %s in its data directory", p)
		}
	}

	// A build with the service account's token, so with the Role only.
	token, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "imagebuilder", &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "sa.kubeconfig")
	admin, err := os.ReadFile(g.c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ca := ""
	for _, line := range strings.Split(string(admin), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "certificate-authority: "); ok {
			ca = v
		}
	}
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: %q}}]
users: [{name: sa, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: sa, namespace: %q}}]
current-context: c
`, ca, token.Status.Token, ns)), 0o600); err != nil {
		t.Fatal(err)
	}
	sa := newRig(t, 10*time.Minute, func(c *kube.Config) { c.Kubeconfig, c.Namespace, c.Instance = kubeconfig, ns, "sa" })
	_, job, err := sa.q.Create(ctx, db.ImageSpec{Name: "with-role", BaseImage: slowBase(t, sa.r), APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	sa.waitLog(t, job.ID, "apt-get is slow today")
	sa.cancel(t, job.ID)
	// The Role grants all the code uses: the API server refused none of
	// the service account's requests (the portal's own included), the
	// pod watch and the Job's ownership of its Secret among them.
	refused, err := g.c.Refused("system:serviceaccount:" + ns + ":imagebuilder")
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) > 0 {
		t.Errorf("the API server refused the service account %d requests:\n%s", len(refused), strings.Join(refused, "\n"))
	}
	if l := sa.log(t, job.ID); strings.Contains(l, "jobs/finalizers") {
		t.Errorf("the build could not give its Secret to its Job:\n%s", l)
	}
	// Without a verb the Role lacks, the same client cannot, e.g., list
	// nodes: the token is not an administrator's.
	if _, err := sa.exec.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the service account can list nodes")
	}
}

func ptr[T any](v T) *T { return &v }

// portalUser is who the manifests run the portal as.
const portalUser = 65532

// portalLog is the portal pod's log.
func portalLog(t *testing.T, g *rig) string {
	pods, err := g.c.Client.CoreV1().Pods(g.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=imagebuilder"})
	if err != nil || len(pods.Items) == 0 {
		return fmt.Sprintf("(no portal pod: %v)", err)
	}
	b, err := g.c.Client.CoreV1().Pods(g.ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(no log: %v; status %+v)", err, pods.Items[0].Status)
	}
	return string(b)
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
