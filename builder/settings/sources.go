package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"imagebuilder/db"
	"strings"

	"imagebuilder/builder/spec"
)

const sourcesSettingKey = "package-sources"

// sealedSources is how package sources are stored: the whole JSON sealed,
// since any of their URLs may hold a password or token.
type sealedSources struct {
	Sealed []byte `json:"sealed"`
}

// Sources returns the package sources new builds use, credentials and all
// (for a build only; pages get Sources().Redacted()).
func (s *Settings) Sources(ctx context.Context) (spec.Sources, error) {
	raw, ok, err := s.db.GetSetting(ctx, sourcesSettingKey)
	if err != nil || !ok {
		return spec.Sources{}, err
	}
	var st sealedSources
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return spec.Sources{}, fmt.Errorf("stored package sources: %w", err)
	}
	plain, err := s.box.Open(st.Sealed)
	if err != nil {
		return spec.Sources{}, fmt.Errorf("stored package sources: %w", err)
	}
	var src spec.Sources
	if err := json.Unmarshal(plain, &src); err != nil {
		return spec.Sources{}, fmt.Errorf("stored package sources: %w", err)
	}
	return src, nil
}

// SaveSources validates and stores new package sources. A URL that comes
// back as the page showed it (its password as "****") keeps the stored
// credentials; a masked URL that matches nothing stored is refused.
func (s *Settings) SaveSources(ctx context.Context, in spec.Sources) error {
	old, err := s.Sources(ctx)
	if err != nil {
		return err
	}
	var errs spec.ValidationError
	restore := func(field string, line int, v string, stored []string) string {
		if !strings.Contains(v, "****") {
			return v
		}
		for _, o := range stored {
			if spec.Redact(o) == v {
				return o
			}
		}
		errs = append(errs, spec.FieldError{Field: field, Line: line, Message: msgf("enter the password or token again: no stored URL matches %q", v)})
		return v
	}
	oldURLs := append(append(append([]string{old.PipIndexURL}, old.PipExtraIndexURLs...), old.CondaChannels...), strings.Fields(old.APTSource)...)
	in.PipIndexURL = restore(spec.FieldPipIndex, 0, in.PipIndexURL, oldURLs)
	for i, u := range in.PipExtraIndexURLs {
		in.PipExtraIndexURLs[i] = restore(spec.FieldPipExtra, i+1, u, oldURLs)
	}
	for i, c := range in.CondaChannels {
		in.CondaChannels[i] = restore(spec.FieldCondaChannel, i+1, c, oldURLs)
	}
	if in.APTSource != "" {
		f := strings.Fields(in.APTSource)
		for i := range f {
			f[i] = restore(spec.FieldAPTSource, 0, f[i], oldURLs)
		}
		in.APTSource = strings.Join(f, " ")
	}
	errs = append(errs, in.Check()...)
	if len(errs) > 0 {
		return errs
	}
	plain, err := json.Marshal(in)
	if err != nil {
		return err
	}
	sealed, err := s.box.Seal(plain)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(sealedSources{Sealed: sealed})
	if err != nil {
		return err
	}
	return s.db.SetSetting(ctx, sourcesSettingKey, string(raw), db.Describe("package sources: %s", in.Redacted().Summary()))
}
