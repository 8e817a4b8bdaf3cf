package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// Subject is the image an inventory describes.
type Subject struct {
	// Image is the pushed reference (host/name:tag) and Digest its
	// manifest digest.
	Image, Digest string
	// Created is when the inventory was taken; the documents carry it, so
	// the same inventory always gives the same bytes.
	Created time.Time
}

// Tool names this program in the documents it writes.
const Tool = "imagebuilder"

// PURL is a package's package URL: pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12,
// pkg:pypi/requests@2.31.0, pkg:conda/numpy@1.26.4?build=…&channel=…&subdir=….
func PURL(p Package, inv Inventory) string {
	var q map[string]string
	var u *packageurl.PackageURL
	switch p.Type {
	case TypeDeb:
		q = map[string]string{"arch": p.Arch}
		if inv.DistroID != "" && inv.DistroVersion != "" {
			q["distro"] = inv.DistroID + "-" + inv.DistroVersion
		}
		ns := inv.DistroID
		if ns == "" {
			ns = "debian"
		}
		u = packageurl.NewPackageURL(packageurl.TypeDebian, ns, p.Name, p.Version, nil, "")
	case TypePython:
		u = packageurl.NewPackageURL(packageurl.TypePyPi, "", NormalizePython(p.Name), p.Version, nil, "")
	case TypeConda:
		q = map[string]string{"build": p.Build, "channel": p.Channel, "subdir": p.Arch}
		u = packageurl.NewPackageURL(packageurl.TypeConda, "", p.Name, p.Version, nil, "")
	default:
		u = packageurl.NewPackageURL(packageurl.TypeGeneric, "", p.Name, p.Version, nil, "")
	}
	for k, v := range q {
		if v == "" {
			delete(q, k)
		}
	}
	if len(q) > 0 {
		u.Qualifiers = packageurl.QualifiersFromMap(q)
	}
	return u.ToString()
}

// spdxUnsafe are the characters an SPDX identifier cannot hold.
var spdxUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// WriteSPDX writes inv as an SPDX 2.3 JSON document: the image as the
// package the document describes, containing one package per installed one.
func WriteSPDX(w io.Writer, subj Subject, inv Inventory) error {
	sum := sha256.Sum256([]byte(subj.Image + "@" + subj.Digest))
	root := common.ElementID("Image-" + spdxUnsafe.ReplaceAllString(subj.Image, "-"))
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      subj.Image,
		DocumentNamespace: "https://imagebuilder.invalid/spdx/" + spdxUnsafe.ReplaceAllString(subj.Image, "-") + "-" + hex.EncodeToString(sum[:8]),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: Tool}},
			Created:  subj.Created.UTC().Format(time.RFC3339),
		},
		Packages: []*spdx.Package{{
			PackageName: subj.Image, PackageSPDXIdentifier: root, PackageVersion: subj.Digest,
			PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "CONTAINER",
		}},
		Relationships: []*spdx.Relationship{{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(root)), Relationship: "DESCRIBES",
		}},
	}
	for i, p := range inv.Packages {
		id := common.ElementID(fmt.Sprintf("Package-%s-%s-%d", p.Type, spdxUnsafe.ReplaceAllString(p.Name, "-"), i))
		sp := &spdx.Package{
			PackageName: p.Name, PackageSPDXIdentifier: id, PackageVersion: FullVersion(p),
			PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: PURL(p, inv)}},
		}
		if p.Location != "" {
			sp.PackageSourceInfo = "found in " + p.Location
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(root)), RefB: common.MakeDocElementID("", string(id)), Relationship: "CONTAINS",
		})
	}
	return spdxjson.Write(doc, w, spdxjson.Indent("  "))
}

// WriteCycloneDX writes inv as a CycloneDX 1.6 JSON document whose
// subject (metadata.component) is the image.
func WriteCycloneDX(w io.Writer, subj Subject, inv Inventory) error {
	bom := cdx.NewBOM()
	sum := sha256.Sum256([]byte(subj.Image + "@" + subj.Digest + subj.Created.UTC().String()))
	h := hex.EncodeToString(sum[:16])
	bom.SerialNumber = fmt.Sprintf("urn:uuid:%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	bom.Metadata = &cdx.Metadata{
		Timestamp: subj.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: Tool}}},
		Component: &cdx.Component{BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: subj.Image, Version: subj.Digest},
	}
	comps := make([]cdx.Component, 0, len(inv.Packages))
	for i, p := range inv.Packages {
		purl := PURL(p, inv)
		c := cdx.Component{BOMRef: fmt.Sprintf("%s#%d", purl, i), Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: FullVersion(p), PackageURL: purl}
		props := []cdx.Property{{Name: "imagebuilder:package:type", Value: p.Type}}
		if p.Location != "" {
			props = append(props, cdx.Property{Name: "imagebuilder:location", Value: p.Location})
		}
		c.Properties = &props
		comps = append(comps, c)
	}
	bom.Components = &comps
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}
