package executor

import (
	"encoding/json"
	"errors"
	"fmt"

	"imagebuilder/db/failure"
)

// Result is how a build that ran elsewhere (a worker in a pod) reports its
// end: what it pushed, or its failure, exactly as the queue would have had
// it in this process (failure.Failure, whatever its reason). It is small
// enough for a Kubernetes termination message (4 KiB).
type Result struct {
	Image   string           `json:"image,omitempty"`
	Digest  string           `json:"digest,omitempty"`
	Size    int64            `json:"size,omitempty"`
	Failure *failure.Failure `json:"failure,omitempty"`
}

// EncodeResult writes a build's end as JSON.
func EncodeResult(out Outcome, err error) []byte {
	r := Result{Image: out.Image, Digest: out.Digest, Size: out.Size}
	if err != nil {
		f := failure.Of(err)
		if errors.Is(err, ErrCancelled) && f.Reason == failure.Other {
			f = Cancelled(err)
		}
		b, _ := failure.Encode(f) // a Failure of strings always marshals
		f, _ = failure.Decode(b)  // as cut to fit
		r = Result{Failure: f}
	}
	b, _ := json.Marshal(r)
	return b
}

// DecodeResult reads what EncodeResult wrote back into an outcome or the
// build's failure (a *failure.Failure).
func DecodeResult(b []byte) (Outcome, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Outcome{}, fmt.Errorf("read the build's result: %w", err)
	}
	if r.Failure != nil {
		if r.Failure.Reason == failure.Cancelled {
			// The queue's own cancel deletes the Job and reads no result:
			// a worker that says it was cancelled was stopped from
			// outside (a signal, a deleted pod, a drained node).
			return Outcome{}, &ClusterError{Code: failure.PodStopped, Detail: r.Failure.Message}
		}
		return Outcome{}, r.Failure
	}
	if r.Digest == "" {
		return Outcome{}, errors.New("read the build's result: it names no image digest")
	}
	return Outcome{Image: r.Image, Digest: r.Digest, Size: r.Size}, nil
}
