package db

// Reason codes: why a job failed or was cancelled. A page shows each in
// its reader's language with a hint for the fix; Job.Error keeps the same
// reason in English. The arguments each takes are listed.
const (
	ReasonInterrupted       = "interrupted"               // the server was killed during the build
	ReasonShutdown          = "shutdown"                  // the server stopped during the build
	ReasonCancelled         = "cancelled"                 // an administrator cancelled it
	ReasonSpecDeleted       = "spec-deleted"              // its spec was deleted
	ReasonSuperseded        = "superseded"                // revision
	ReasonTimeout           = "timeout"                   // duration
	ReasonSilent            = "silent-build"              // duration
	ReasonLogUnwritable     = "log-unwritable"            // error
	ReasonDiskFullLog       = "disk-full-log"             // error (names the file)
	ReasonDiskFull          = "disk-full"                 // directory
	ReasonDiskSpaceLow      = "disk-space-low"            // free, directory, needed
	ReasonRegistrySilent    = "registry-silent-pull"      // host, duration
	ReasonRegistrySilentOut = "registry-silent-push"      // host, duration
	ReasonPullAuth          = "pull-auth"                 //
	ReasonPushAuth          = "push-auth"                 //
	ReasonStepFailed        = "step-failed"               // step (apt, conda-check, conda, pip or ""), exit status, telling line or ""
	ReasonInvalidSpec       = "invalid-spec"              // problems
	ReasonNoRegistry        = "no-registry"               // error
	ReasonOutOfMemory       = "out-of-memory"             // the memory limit, or ""
	ReasonBaseNotFound      = "base-not-found"            // image
	ReasonUnreachable       = "registry-unreachable-pull" // host, error
	ReasonUnreachableOut    = "registry-unreachable-push" // host, error
	// A cluster's reasons (the Kubernetes executor); each takes the
	// cluster's own words.
	ReasonWorkerImage = "worker-image" // detail
	ReasonEvicted     = "evicted"      // detail
	ReasonNodeLost    = "node-lost"    // detail
	ReasonPodGone     = "pod-gone"     // detail
	// Failures a package tool described; the tool's line comes last among
	// the arguments, for the page to highlight.
	ReasonAPTNotFound   = "apt-package-not-found"  // package
	ReasonAPTVersion    = "apt-version-not-found"  // package, version
	ReasonAPTMissing    = "apt-missing"            //
	ReasonPipNoMatch    = "pip-no-match"           // requirement
	ReasonPipConflict   = "pip-conflict"           // the conflicting requirements
	ReasonPipManaged    = "pip-externally-managed" //
	ReasonPipMissing    = "pip-missing"            //
	ReasonCondaMissing  = "conda-missing"          //
	ReasonCondaNotFound = "conda-not-found"        // the tool's line
	ReasonCondaUnsat    = "conda-unsatisfiable"    // the tool's line
)

// ReasonCodes lists every reason code, for the tests that check each is
// translated.
var ReasonCodes = []string{ReasonInterrupted, ReasonShutdown, ReasonCancelled, ReasonSpecDeleted, ReasonSuperseded,
	ReasonTimeout, ReasonSilent, ReasonLogUnwritable, ReasonDiskFullLog, ReasonDiskFull, ReasonDiskSpaceLow,
	ReasonRegistrySilent, ReasonRegistrySilentOut, ReasonPullAuth, ReasonPushAuth, ReasonStepFailed,
	ReasonInvalidSpec, ReasonNoRegistry, ReasonOutOfMemory, ReasonBaseNotFound, ReasonUnreachable, ReasonUnreachableOut, ReasonWorkerImage, ReasonEvicted, ReasonNodeLost, ReasonPodGone,
	ReasonAPTNotFound, ReasonAPTVersion, ReasonAPTMissing, ReasonPipNoMatch,
	ReasonPipConflict, ReasonPipManaged, ReasonPipMissing, ReasonCondaMissing, ReasonCondaNotFound, ReasonCondaUnsat}
