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

// DeleteRepositoryTags deletes every tag of repo (host[/prefix]/path) in
// the registry reg, as DeleteTag does one; a repository that does not
// exist is no error. It says how many it deleted.
func DeleteRepositoryTags(ctx context.Context, reg Target, repo string) (int, error) {
	var opts []name.Option
	if reg.Insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(repo, append(opts, name.StrictValidation)...)
	if err != nil {
		return 0, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tags, err := remote.List(r, remote.WithAuth(remoteAuth(reg)), remote.WithTransport(remoteTransport(reg)), remote.WithContext(lctx))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	n := 0
	for _, t := range tags {
		if err := DeleteTag(ctx, reg, repo+":"+t); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func remoteAuth(reg Target) authn.Authenticator {
	if reg.Username != "" {
		return authn.FromConfig(authn.AuthConfig{Username: reg.Username, Password: reg.Password})
	}
	return authn.Anonymous
}

func remoteTransport(reg Target) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if reg.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only when the admin asked for it
	}
	return tr
}

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
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = remote.Delete(tag, remote.WithAuth(remoteAuth(reg)), remote.WithTransport(remoteTransport(reg)), remote.WithContext(ctx))
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
