package views

// The models of sign-in, base images, pull secrets and the registry settings.

// LoginForm is the sign-in and first-run setup form.
type LoginForm struct {
	Layout
	Username string
	Next     string
	Error    string
}

// BaseImagesPage is Image Management with its add or edit form.
type BaseImagesPage struct {
	BaseImages
	EditID      int64
	Form        BaseImageOption
	PullSecrets []string
	Errors      map[string][]string
}

// SecretsPage lists pull secrets by name.
type SecretsPage struct {
	Layout
	Names  []string
	Name   string
	Errors map[string][]string
}

// TestResult is the answer of "Test connection".
type TestResult struct {
	OK      bool
	Host    string
	Message string
}

// RegistryForm is the registry settings page.
type RegistryForm struct {
	Layout
	EmbeddedHost string
	External     bool
	Host         string
	Username     string
	HasPassword  bool
	Insecure     bool
	Saved        bool
	Errors       map[string][]string
	TestResult   *TestResult
	Executor     ExecutorInfo
}

// ExecutorInfo says where builds run, as set at start (--executor).
type ExecutorInfo struct {
	// Kubernetes is false for builds in the portal's own process.
	Kubernetes  bool
	Namespace   string
	WorkerImage string
	// Resources is the build pods' requests and limits, e.g.
	// "memory limit 4Gi", or "".
	Resources string
	// Privileged: build pods run privileged (else in a user namespace of
	// their own).
	Privileged bool
	// LayerCache is the registry repository prefix of the build pods'
	// layer caches ("" when off).
	LayerCache string
	// CacheVolume is where build pods keep their package caches, as the
	// flag says it ("pvc:NAME", "hostpath:/DIR"), or "".
	CacheVolume string
}
