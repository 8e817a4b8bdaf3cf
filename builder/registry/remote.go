package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DeleteTag deletes one tag (image is host[/prefix]/repo:tag) in the
// registry reg with its credentials, by the OCI distribution API's
// DELETE of the manifest by tag (OCI distribution 1.1), which on
// distribution 3 (the tested one) removes that tag alone: other tags of
// the same image stay. A tag that is already gone is no error.
func DeleteTag(ctx context.Context, reg Target, image string) error {
	var opts []name.Option
	if reg.Insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(image, append(opts, name.StrictValidation)...)
	if err != nil {
		return fmt.Errorf("delete tag %s: %w", image, err)
	}
	auth := authn.Anonymous
	if reg.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: reg.Username, Password: reg.Password})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if reg.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only when the admin asked for it
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = remote.Delete(tag, remote.WithAuth(auth), remote.WithTransport(tr), remote.WithContext(ctx))
	var terr *transport.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return nil
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusMethodNotAllowed || terr.StatusCode == http.StatusBadRequest):
		return msgf("%s does not delete tags (the registry refused DELETE by tag with status %d); turn off deleting tags in an external registry", tag.RegistryStr(), terr.StatusCode)
	case errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized:
		return msgf("%s refused to delete %s: the registry refused the user name and password", tag.RegistryStr(), image)
	case errors.As(err, &terr) && terr.StatusCode == http.StatusForbidden:
		return msgf("%s refused to delete %s: the registry user may push but not delete", tag.RegistryStr(), image)
	}
	return fmt.Errorf("delete tag %s: %w", image, err)
}
