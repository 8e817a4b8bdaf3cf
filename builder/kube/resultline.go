package kube

// The worker's result as the last line of its log, sealed.
//
// The termination message is read from the pod's status, which the kubelet
// updates only when it next notices the container has ended (its relist,
// about a second) and then again once the pod is torn down: most of a
// short build's time. The worker therefore also writes its result as the
// last line of its log, sealed with a key that only this executor and the
// job's Secret hold, and the executor ends the build as soon as that line
// arrives. A build step writes to the same log, so a line that does not
// open with the key is a step's output, never a result. The termination
// message stays the result of record: for a build re-attached after a
// restart (its key died with the process that made it) and for a worker
// killed before it wrote the line.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

const (
	// fileResultKey is the Secret's file with the key that seals the
	// result line.
	fileResultKey = "result-key"
	// resultPrefix starts the sealed result line.
	resultPrefix = "Image Builder worker: result "
)

var b64 = base64.RawURLEncoding

// newResultKey is a fresh key for one build.
func newResultKey() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return key
}

func resultMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("imagebuilder result v1\n"))
	m.Write(body)
	return m.Sum(nil)
}

// sealResult is the log line that carries body, sealed with key.
func sealResult(key, body []byte) string {
	return resultPrefix + b64.EncodeToString(body) + " " + b64.EncodeToString(resultMAC(key, body)) + "\n"
}

// parseResultLine finds a result line's shape at the end of text: where it
// starts, its body and its seal.
func parseResultLine(text string) (at int, body, mac []byte, ok bool) {
	at = strings.LastIndex(text, resultPrefix)
	if at < 0 {
		return 0, nil, nil, false
	}
	enc, sig, found := strings.Cut(strings.TrimRight(text[at+len(resultPrefix):], "\r\n"), " ")
	if !found {
		return 0, nil, nil, false
	}
	body, err1 := b64.DecodeString(enc)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || len(mac) != sha256.Size {
		return 0, nil, nil, false
	}
	return at, body, mac, true
}

// openResult is the body of a result line sealed with key.
func openResult(key []byte, text string) (at int, body []byte, ok bool) {
	at, body, mac, ok := parseResultLine(text)
	if !ok || len(key) == 0 || !hmac.Equal(mac, resultMAC(key, body)) {
		return 0, nil, false
	}
	return at, body, true
}
