// Package spec owns what an image spec means before anything is built:
//
//   - validate.go, pep508.go, conda.go: each package line checked (APT
//     names and versions, PEP 508 requirements, conda match specs), the
//     spec's name and base image reference, and the bounds on sizes; the
//     problems come back as a ValidationError, one message per field and
//     line, which an invalid-spec failure carries.
//   - sources.go: the package sources an administrator sets (an extra APT
//     source and key, conda channels, a Pip index) and the secret files
//     a build mounts for them.
//   - containerfile.go: the Containerfile a spec builds (one exec-form RUN
//     per package manager, lines as arguments that no shell parses), the
//     cache mounts it uses, the APT step plan that keeps earlier layers,
//     and the content key that says two builds would be the same.
//   - merge.go: a three-way merge of two edits of one spec.
//
// It builds nothing and knows no HTTP; spectest holds the hostile lines
// and the loopback Pip index that tests use.
package spec
