package views

// The models of the package sources and build limits forms.

// SourcesForm is the Package sources page. URLs come with credentials
// masked; a masked URL sent back keeps the stored one.
type SourcesForm struct {
	Layout
	PipIndexURL, PipExtra, PipTrusted, CondaChannels, APTSource, APTKey string
	CondaOverride                                                       bool
	Saved                                                               bool
	Errors                                                              map[string][]string
}

// LimitsForm is the build limits form: sizes and CPUs as typed.
type LimitsForm struct {
	Memory, CPUs string
	MachineCPUs  int
	// Enforced is false when this process cannot make control groups.
	Enforced   bool
	Kubernetes bool
	Saved      bool
	Errors     map[string][]string
}

// SourceLine is one package source a job used: a label key and its value.
type SourceLine struct {
	Key, Value string
}
