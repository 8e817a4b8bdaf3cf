package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Result is how a build that ran elsewhere (a worker in a pod) reports its
// end: the outcome, or its error with the type the queue classifies it by.
// It is small enough for a Kubernetes termination message (4 KiB).
type Result struct {
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`

	Error string `json:"error,omitempty"`
	// Kind names the error's type: step, auth, disk-full, registry-timeout,
	// out-of-memory, cancelled, or "" for any other.
	Kind    string `json:"kind,omitempty"`
	Step    string `json:"step,omitempty"`
	Status  int    `json:"status,omitempty"`
	Push    bool   `json:"push,omitempty"`
	Host    string `json:"host,omitempty"`
	Path    string `json:"path,omitempty"`
	Free    uint64 `json:"free,omitempty"`
	Need    uint64 `json:"need,omitempty"`
	Timeout string `json:"timeout,omitempty"`
}

// maxResultError keeps an encoded Result under the 4 KiB a termination
// message may hold.
const maxResultError = 2048

// EncodeResult writes a build's end as JSON.
func EncodeResult(out Outcome, err error) []byte {
	r := Result{Image: out.Image, Digest: out.Digest, Size: out.Size}
	if err != nil {
		r = Result{Error: err.Error()}
		if len(r.Error) > maxResultError {
			r.Error = r.Error[:maxResultError] + "…"
		}
		var step *StepError
		var auth *AuthError
		var full *DiskFullError
		var silent *RegistryTimeoutError
		var oom *OutOfMemoryError
		switch {
		case errors.As(err, &oom):
			r.Kind = "out-of-memory"
		case errors.As(err, &full):
			r.Kind, r.Path, r.Free, r.Need = "disk-full", full.Path, full.Free, full.Need
		case errors.As(err, &silent):
			r.Kind, r.Host, r.Push, r.Timeout = "registry-timeout", silent.Host, silent.Push, silent.Timeout.String()
		case errors.As(err, &auth):
			r.Kind, r.Push = "auth", auth.Push
		case errors.As(err, &step):
			r.Kind, r.Step, r.Status = "step", step.Step, step.Status
		case errors.Is(err, ErrCancelled):
			r.Kind = "cancelled"
		}
	}
	b, _ := json.Marshal(r)
	return b
}

// DecodeResult reads what EncodeResult wrote back into an outcome or a
// typed error.
func DecodeResult(b []byte) (Outcome, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Outcome{}, fmt.Errorf("read the build's result: %w", err)
	}
	if r.Error == "" {
		if r.Digest == "" {
			return Outcome{}, errors.New("read the build's result: it names no image digest")
		}
		return Outcome{Image: r.Image, Digest: r.Digest, Size: r.Size}, nil
	}
	base := errors.New(r.Error)
	switch r.Kind {
	case "out-of-memory":
		return Outcome{}, &OutOfMemoryError{Err: base}
	case "disk-full":
		return Outcome{}, &DiskFullError{Path: r.Path, Free: r.Free, Need: r.Need, Err: base}
	case "registry-timeout":
		d, _ := time.ParseDuration(r.Timeout)
		return Outcome{}, &RegistryTimeoutError{Host: r.Host, Push: r.Push, Timeout: d, Err: base}
	case "auth":
		return Outcome{}, &AuthError{Push: r.Push, Err: base}
	case "step":
		return Outcome{}, &StepError{Step: r.Step, Status: r.Status, Err: base}
	case "cancelled":
		return Outcome{}, fmt.Errorf("%w: %w", ErrCancelled, base)
	}
	return Outcome{}, base
}
