package kubetest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// auditEvent is what Refused reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// Refused lists the requests of user (e.g.
// "system:serviceaccount:NS:NAME") that the API server refused as
// forbidden (403), from its audit log: "verb resource[/subresource]
// name (uri)".
func (c *Cluster) Refused(user string) ([]string, error) {
	f, err := os.Open(filepath.Join(c.Dir, "logs", "audit.log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User.Username != user || e.ResponseStatus == nil || e.ResponseStatus.Code != 403 {
			continue
		}
		what := e.Verb
		if o := e.ObjectRef; o != nil {
			what += " " + strings.TrimSuffix(o.Resource+"/"+o.Subresource, "/") + " " + o.Name
		}
		out = append(out, what+" ("+e.RequestURI+")")
	}
	return out, sc.Err()
}
