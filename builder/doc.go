// Package builder is the room for everything that turns an image spec into
// a pushed image; it holds no code itself. Its packages, each owning one
// thing and importing only what is listed before it:
//
//   - message: texts for people, as a translatable format and arguments.
//   - spec: spec validation (APT, PEP 508, conda match specs, names,
//     bounds) and the Containerfile a spec builds.
//   - logs: one timestamped log file per job, its tail and its live feed.
//   - registry: the embedded registry, the push Target type, and the one
//     client that checks a registry.
//   - settings: the push registry and pull secrets administrators save.
//   - executor: the interface the queue runs builds through, with its
//     typed errors.
//   - engine: the in-process Buildah executor and its leftovers clean-up.
//   - metrics: the Prometheus metrics of builds and the queue.
//   - queue: the job queue, restart recovery and failure reasons.
//   - kube: the Kubernetes executor (a Job per build), the worker mode its
//     pods run, kube/deploy (manifests for the portal in a cluster) and
//     kube/kubetest (a real single-node cluster for the tests).
//
// No package here knows HTTP; only db is imported from outside the room.
package builder
