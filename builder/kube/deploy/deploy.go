// Package deploy holds the manifests that run the portal itself in a
// cluster (ServiceAccount, Role, RoleBinding, PersistentVolumeClaim,
// Deployment, Service); `imagebuilder kube-manifests` prints them.
package deploy

import _ "embed"

// Manifests is imagebuilder.yaml: several YAML documents.
//
//go:embed imagebuilder.yaml
var Manifests []byte
